import streamlit as st

st.title("next_token")
st.info("This page is being built.")
