"""The served app hides exception details from viewers (.streamlit/config.toml); tests must see them.

DEVICES: where the core's equality tests load the model. CPU always; CUDA too where PyTorch sees a GPU,
so that on such a machine `make test` runs the parity and trace tests on both (CI has none)."""

import torch
from streamlit import config

config.set_option("client.showErrorDetails", "full")

DEVICES = ["cpu", *(["cuda"] if torch.cuda.is_available() else [])]
