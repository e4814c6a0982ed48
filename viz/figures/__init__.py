"""Pure functions from trace data (numpy) to Plotly figures: no torch, no Streamlit."""
