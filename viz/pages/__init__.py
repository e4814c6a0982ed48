"""The page scripts: st.navigation runs each one, and each opens itself through viz/frame.py `page`."""
