"""Read ``.safetensors`` files with numpy alone, so building models never needs PyTorch.

Layout (https://github.com/huggingface/safetensors): an 8-byte little-endian unsigned
header length ``n``, then ``n`` bytes of UTF-8 JSON mapping each tensor name to
``{"dtype", "shape", "data_offsets": [begin, end]}`` (offsets relative to the end of the
header; an optional ``"__metadata__"`` entry holds strings), then the raw little-endian
tensor bytes.
"""

from __future__ import annotations

import json
import math
import struct
from pathlib import Path

import numpy as np

# Explicit little-endian dtypes: the file format is little-endian whatever the host is.
DTYPES: dict[str, np.dtype] = {
    "F64": np.dtype("<f8"),
    "F32": np.dtype("<f4"),
    "F16": np.dtype("<f2"),
    "I64": np.dtype("<i8"),
    "I32": np.dtype("<i4"),
    "I16": np.dtype("<i2"),
    "I8": np.dtype("i1"),
    "U8": np.dtype("u1"),
    "BOOL": np.dtype("?"),
}


class SafetensorsError(ValueError):
    """The bytes are not a well-formed safetensors file, or use an unsupported dtype."""


def parse_safetensors(data: bytes | bytearray | memoryview) -> dict[str, np.ndarray]:
    """Map each tensor name to a writable, native-byte-order numpy array (copied out of ``data``)."""
    buf = memoryview(data).cast("B")
    if len(buf) < 8:
        raise SafetensorsError("file is shorter than the 8-byte header length")
    (header_len,) = struct.unpack("<Q", buf[:8])
    if header_len > len(buf) - 8:
        raise SafetensorsError(f"header length {header_len} runs past the end of the file")
    try:
        header = json.loads(bytes(buf[8:8 + header_len]).decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise SafetensorsError(f"header is not valid JSON: {e}") from e
    if not isinstance(header, dict):
        raise SafetensorsError("header is not a JSON object")

    body = buf[8 + header_len:]
    tensors: dict[str, np.ndarray] = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        dtype = DTYPES.get(info.get("dtype"))
        if dtype is None:
            raise SafetensorsError(f"{name}: unsupported dtype {info.get('dtype')!r}")
        shape = tuple(int(d) for d in info["shape"])
        begin, end = (int(o) for o in info["data_offsets"])
        if not 0 <= begin <= end <= len(body):
            raise SafetensorsError(f"{name}: data offsets {begin}..{end} outside the data section")
        count = math.prod(shape)
        if end - begin != count * dtype.itemsize:
            raise SafetensorsError(f"{name}: {end - begin} bytes do not hold {shape} {info['dtype']}")
        flat = np.frombuffer(body, dtype=dtype, count=count, offset=begin)
        # Copy so callers get writable arrays that do not pin the whole file in memory.
        tensors[name] = flat.astype(dtype.newbyteorder("="), copy=True).reshape(shape)
    return tensors


def load_safetensors(path: Path | str) -> dict[str, np.ndarray]:
    return parse_safetensors(Path(path).read_bytes())
