"""The served app hides exception details from viewers (.streamlit/config.toml); tests must see them."""

from streamlit import config

config.set_option("client.showErrorDetails", "full")
