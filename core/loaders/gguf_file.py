"""A small read-only parser for GGUF files (versions 2 and 3, little-endian).

The layout (https://github.com/ggml-org/ggml/blob/master/docs/gguf.md):

    header       magic "GGUF", u32 version, u64 tensor count, u64 key/value count
    metadata     per key: string key, u32 value type, value
    tensor infos per tensor: string name, u32 n_dims, u64 dims[n_dims], u32 ggml type, u64 offset
    padding      up to `general.alignment` (default 32)
    tensor data  each tensor at data start + its offset

A string is a u64 byte length then UTF-8 bytes; an array is a u32 element type, a u64 count, then the elements.

Unlike `gguf.GGUFReader`, which builds a numpy view for every part of every value (slow for a vocabulary of
tens of thousands of tokens), metadata is decoded straight into Python values with `struct`. Tensor data are numpy views of a
read-only memory map, shaped exactly as `GGUFReader`'s `ReaderTensor.data`, so `gguf.quants.dequantize`
accepts them unchanged. Nothing in the file is executed or unpickled; every length and offset is checked
against the file's size, and anything malformed raises `ModelUnavailableError`.

A file shipped in consecutive chunks (`GGUFFile.from_parts`, for packages that must stay under an upload
limit) is read into memory once, since tensors straddle the cuts; its SHA-256 can be checked on the way.
"""

from __future__ import annotations

import hashlib
import struct
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from gguf.constants import GGML_QUANT_SIZES, GGUF_DEFAULT_ALIGNMENT, GGUF_MAGIC, GGMLQuantizationType, GGUFValueType

from core.errors import N_, ModelUnavailableError

SUPPORTED_VERSIONS = (2, 3)

# Fixed-size value types: struct format (little-endian) and numpy dtype for whole arrays of them.
_SCALARS: dict[GGUFValueType, tuple[struct.Struct, np.dtype]] = {
    GGUFValueType.UINT8: (struct.Struct("<B"), np.dtype("<u1")),
    GGUFValueType.INT8: (struct.Struct("<b"), np.dtype("<i1")),
    GGUFValueType.UINT16: (struct.Struct("<H"), np.dtype("<u2")),
    GGUFValueType.INT16: (struct.Struct("<h"), np.dtype("<i2")),
    GGUFValueType.UINT32: (struct.Struct("<I"), np.dtype("<u4")),
    GGUFValueType.INT32: (struct.Struct("<i"), np.dtype("<i4")),
    GGUFValueType.FLOAT32: (struct.Struct("<f"), np.dtype("<f4")),
    GGUFValueType.BOOL: (struct.Struct("<?"), np.dtype("<u1")),  # any non-zero byte is true
    GGUFValueType.UINT64: (struct.Struct("<Q"), np.dtype("<u8")),
    GGUFValueType.INT64: (struct.Struct("<q"), np.dtype("<i8")),
    GGUFValueType.FLOAT64: (struct.Struct("<d"), np.dtype("<f8")),
}
HEADER_READ_BYTES = 16 * 1024**2  # Gemma 3's header, with its 262,144-piece vocabulary, is about 6 MB
_U32 = struct.Struct("<I")
_U64 = struct.Struct("<Q")

# Tensor types that GGUFReader (and so gguf.quants.dequantize) sees as plain numbers; every other type is
# block-quantised and appears as uint8 bytes, each row `row_length // block_size * type_size` bytes long.
_PLAIN_TENSOR_DTYPES: dict[GGMLQuantizationType, np.dtype] = {
    GGMLQuantizationType.F16: np.dtype("<f2"),
    GGMLQuantizationType.F32: np.dtype("<f4"),
    GGMLQuantizationType.F64: np.dtype("<f8"),
    GGMLQuantizationType.I8: np.dtype("<i1"),
    GGMLQuantizationType.I16: np.dtype("<i2"),
    GGMLQuantizationType.I32: np.dtype("<i4"),
    GGMLQuantizationType.I64: np.dtype("<i8"),
}


@dataclass(frozen=True, eq=False)
class GGUFTensor:
    name: str
    dims: tuple[int, ...]  # GGUF order: the fastest-varying dimension first (numpy's shape reversed)
    tensor_type: GGMLQuantizationType
    offset: int  # absolute position of the data in the file
    n_elements: int
    n_bytes: int
    data: np.ndarray  # read-only view of the file, shaped like GGUFReader's ReaderTensor.data


class GGUFFile:
    """A parsed GGUF file: `version`, `metadata` (key -> Python value), `tensors` (in file order), `alignment`."""

    def __init__(self, path: str | Path, *, data: np.ndarray | None = None, header_only: bool = False):
        """Memory-maps `path`; or parses `data` (uint8 bytes already read), with `path` naming it in messages.
        `header_only`: the metadata and `tensor_names` alone, `tensors` left empty (`data` may then be the
        file's first bytes only)."""
        self.path = Path(path)
        self._header_only = header_only
        if data is not None:
            self._map = data
        else:
            try:
                self._map = np.memmap(self.path, dtype=np.uint8, mode="r")
            except (OSError, ValueError) as exc:  # missing, unreadable, or empty (mmap refuses zero bytes)
                raise ModelUnavailableError(N_("{file} cannot be read as a GGUF file ({detail})"),
                                            file=self.path.name, detail=str(exc)) from exc
        self._buf = memoryview(self._map)
        self._size = len(self._buf)
        self._pos = 0
        try:
            self._parse()
        except UnicodeDecodeError as exc:
            raise self._error(f"a string near byte {self._pos} is not valid UTF-8") from exc
        except struct.error as exc:  # cannot happen after the bounds checks; kept as a last guard
            raise self._error(f"unreadable near byte {self._pos} ({exc})") from exc

    # -- public -------------------------------------------------------------------------------------------

    @classmethod
    def from_parts(cls, parts: Sequence[Path], name: str, sha256: str | None = None) -> GGUFFile:
        """The GGUF file `name` cut into `parts` (in order), read into memory once, by `readinto` (no copy).
        With `sha256`, the joined bytes must have that digest, else ModelUnavailableError."""
        data = _joined(parts, name)
        if data.size != sum(Path(p).stat().st_size for p in parts):
            raise ModelUnavailableError(N_("{file} is damaged: {detail}"), file=name, detail="a part changed while being read")
        if sha256 is not None and hashlib.sha256(data).hexdigest() != sha256.lower():
            raise ModelUnavailableError(N_("{file} is damaged: {detail}"), file=name,
                                        detail="its parts do not join into the expected file (SHA-256)")
        data.flags.writeable = False  # like the memory map: tensors are views, and nothing may change them
        return cls(name, data=data)

    @classmethod
    def header_of_parts(cls, parts: Sequence[Path], name: str) -> GGUFFile:
        """The header (metadata, tensor names) of the file cut into `parts`, from as few of its first bytes as it
        takes: a vocabulary is a few megabytes, the weights hundreds, and memory touched first is slow on a VM."""
        total, size = sum(Path(p).stat().st_size for p in parts), HEADER_READ_BYTES
        while True:
            try:
                return cls(name, data=_joined(parts, name, min(size, total)), header_only=True)
            except _Truncated:
                if size >= total:
                    raise
                size *= 4

    def tensor(self, name: str) -> GGUFTensor:
        for t in self.tensors:
            if t.name == name:
                return t
        raise KeyError(name)

    # -- parsing ------------------------------------------------------------------------------------------

    def _parse(self) -> None:
        if self._size < 4 or self._buf[:4].tobytes() != GGUF_MAGIC.to_bytes(4, "little"):
            raise self._error("it does not start with the GGUF magic bytes")
        self._pos = 4
        self.version = self._unpack(_U32)
        if self.version not in SUPPORTED_VERSIONS:
            if self.version & 0xFFFF == 0:  # a small version number written big-endian, as GGUFReader guesses
                raise self._error("it is a big-endian GGUF file, which is not supported")
            raise self._error(f"GGUF version {self.version} is not supported (only {SUPPORTED_VERSIONS})")
        n_tensors = self._unpack(_U64)
        n_kv = self._unpack(_U64)

        self.metadata: dict[str, Any] = {}
        self.value_types: dict[str, GGUFValueType] = {}  # each key's type (arrays: ARRAY)
        for _ in range(n_kv):
            key = self._string()
            if key in self.metadata:
                raise self._error(f"the metadata key {key!r} appears twice")
            self.value_types[key] = self._value_type()
            self.metadata[key] = self._value(self.value_types[key])

        infos = [self._tensor_info() for _ in range(n_tensors)]

        self.alignment = GGUF_DEFAULT_ALIGNMENT
        if "general.alignment" in self.metadata:
            self.alignment = self.metadata["general.alignment"]
            is_uint32 = self.value_types["general.alignment"] == GGUFValueType.UINT32
            if not is_uint32 or self.alignment <= 0 or self.alignment & (self.alignment - 1):
                raise self._error(f"general.alignment ({self.alignment!r}) is not a power of two stored as uint32")
        self.data_offset = -(-self._pos // self.alignment) * self.alignment  # round up

        self.tensor_names = [name for name, *_ in infos]
        if len(set(self.tensor_names)) < len(self.tensor_names):
            raise self._error(f"the tensor {next(n for n in self.tensor_names if self.tensor_names.count(n) > 1)!r} "
                              "appears twice")
        self.tensors: list[GGUFTensor] = [] if self._header_only else [self._tensor(*info) for info in infos]

    def _tensor_info(self) -> tuple[str, tuple[int, ...], GGMLQuantizationType, int]:
        name = self._string()
        n_dims = self._unpack(_U32)
        self._need(8 * n_dims)
        dims = tuple(np.frombuffer(self._buf, "<u8", n_dims, self._pos).tolist())
        self._pos += 8 * n_dims
        raw_type = self._unpack(_U32)
        try:
            tensor_type = GGMLQuantizationType(raw_type)
        except ValueError:
            raise self._error(f"the tensor {name!r} has the unknown ggml type {raw_type}") from None
        if tensor_type not in GGML_QUANT_SIZES:
            raise self._error(f"the tensor {name!r} has the ggml type {tensor_type.name}, which has no known size")
        return name, dims, tensor_type, self._unpack(_U64)

    def _tensor(self, name: str, dims: tuple[int, ...], tensor_type: GGMLQuantizationType, relative: int) -> GGUFTensor:
        if relative % self.alignment:
            raise self._error(f"the tensor {name!r} starts at offset {relative}, not a multiple of {self.alignment}")
        block_size, type_size = GGML_QUANT_SIZES[tensor_type]
        n_elements = int(np.prod(dims, dtype=object))  # Python ints: no overflow on garbage dims
        shape = tuple(reversed(dims))  # numpy order: rows last
        if shape and shape[-1] % block_size:
            raise self._error(
                f"the tensor {name!r} has rows of {shape[-1]}, not a multiple of {tensor_type.name}'s {block_size}"
            )
        n_bytes = n_elements // block_size * type_size
        start = self.data_offset + relative
        if start + n_bytes > self._size:
            raise self._error(f"the data of {name!r} ({n_bytes} bytes at byte {start}) run past the end (truncated?)")
        raw = self._map[start : start + n_bytes]
        dtype = _PLAIN_TENSOR_DTYPES.get(tensor_type)
        if dtype is None:
            data = raw.reshape(*shape[:-1], shape[-1] // block_size * type_size) if shape else raw
        else:
            data = raw.view(dtype).reshape(shape)
        return GGUFTensor(name, dims, tensor_type, start, n_elements, n_bytes, data)

    def _value_type(self) -> GGUFValueType:
        raw = self._unpack(_U32)
        try:
            return GGUFValueType(raw)
        except ValueError:
            raise self._error(f"unknown metadata value type {raw} at byte {self._pos - 4}") from None

    def _value(self, value_type: GGUFValueType) -> Any:
        if value_type == GGUFValueType.STRING:
            return self._string()
        if value_type == GGUFValueType.ARRAY:
            return self._array()
        fmt, _ = _SCALARS[value_type]
        return self._unpack(fmt)

    def _array(self) -> list:
        item_type = self._value_type()
        count = self._unpack(_U64)
        if item_type in _SCALARS:  # one numpy read for the whole array
            _, dtype = _SCALARS[item_type]
            self._need(count * dtype.itemsize)
            values = np.frombuffer(self._buf, dtype, count, self._pos)
            self._pos += count * dtype.itemsize
            return (values != 0).tolist() if item_type == GGUFValueType.BOOL else values.tolist()
        if item_type == GGUFValueType.STRING:
            return self._strings(count)
        self._need(count * 12)  # nested arrays: each holds at least a type and a count
        return [self._array() for _ in range(count)]

    def _strings(self, count: int) -> list[str]:
        """`count` strings in a row: the hot loop of a vocabulary (tens of thousands of entries)."""
        self._need(count * 8)  # every string has at least its length
        buf, pos, size, unpack = self._buf, self._pos, self._size, _U64.unpack_from
        out: list[str] = []
        append = out.append
        for _ in range(count):
            (length,) = unpack(buf, pos)
            pos += 8
            end = pos + length
            if end > size:
                raise self._error(f"a string of {length} bytes at byte {pos} runs past the end (truncated?)",
                                  truncated=True)
            append(str(buf[pos:end], "utf-8"))
            pos = end
        self._pos = pos
        return out

    def _string(self) -> str:
        length = self._unpack(_U64)
        self._need(length)
        text = str(self._buf[self._pos : self._pos + length], "utf-8")
        self._pos += length
        return text

    def _unpack(self, fmt: struct.Struct) -> Any:
        self._need(fmt.size)
        (value,) = fmt.unpack_from(self._buf, self._pos)
        self._pos += fmt.size
        return value

    def _need(self, n_bytes: int) -> None:
        if self._pos + n_bytes > self._size:
            raise self._error(f"it ends at byte {self._size}; {n_bytes} bytes are needed at byte {self._pos} (truncated?)",
                              truncated=True)

    def _error(self, reason: str, truncated: bool = False) -> ModelUnavailableError:
        return (_Truncated if truncated else ModelUnavailableError)(
            N_("{file} is not a readable GGUF file: {detail}"), file=self.path.name, detail=reason)


class _Truncated(ModelUnavailableError):
    """The bytes end before the parse does: a damaged file, or a header read from too short a prefix."""


def _joined(parts: Sequence[Path], name: str, size: int | None = None) -> np.ndarray:
    """The first `size` bytes (all by default) of the file cut into `parts`, read into one array."""
    try:
        size = sum(Path(p).stat().st_size for p in parts) if size is None else size
        data = np.empty(size, dtype=np.uint8)
        filled = 0
        for part in parts:
            if filled == size:
                break
            with open(part, "rb") as f:
                filled += f.readinto(memoryview(data)[filled:])
    except OSError as exc:
        raise ModelUnavailableError(N_("{file} cannot be read as a GGUF file ({detail})"), file=name,
                                    detail=f"a part cannot be read: {exc}") from exc
    return data[:filled]
