"""Tensors as plain bytes in the safetensors layout: no pickle, no compression, sizes checked first.

    8 bytes   little-endian length N of the header
    N bytes   JSON: {name: {"dtype", "shape", "data_offsets": [begin, end]}, "__metadata__": {...}}
    rest      the tensors' raw bytes, back to back, in header order

What crosses from the learner's side to the judge is read with `read`, which refuses anything that is
not exactly this layout before it allocates a tensor: the judge never unpickles or inflates anything.
Meta tensors have a shape and a dtype but no bytes; the header's metadata marks them.
"""
import ctypes
import json
import math
import struct

import torch

DTYPES = {"F64": torch.float64, "F32": torch.float32, "F16": torch.float16, "BF16": torch.bfloat16,
          "I64": torch.int64, "I32": torch.int32, "I16": torch.int16, "I8": torch.int8, "U8": torch.uint8,
          "BOOL": torch.bool}
CODES = {dtype: code for code, dtype in DTYPES.items()}
MAX_HEADER = 1 << 20  # bytes: a few thousand tensor entries


class BadTensorFile(ValueError):
    """The bytes are not a tensor file of the expected layout (the learner's side's fault)."""


def dumps(tensors):
    """{name: tensor} -> bytes. Tensors are copied to the CPU; meta tensors keep only shape and dtype."""
    header, chunks, offset, meta = {}, [], 0, []
    for name, tensor in tensors.items():
        if tensor.dtype not in CODES:
            raise TypeError(f"{name}: dtype {tensor.dtype} cannot be stored")
        if tensor.device.type == "meta":
            data = b""
            meta.append(name)
        else:
            data = _raw_bytes(tensor) if tensor.numel() else b""
        header[name] = {"dtype": CODES[tensor.dtype], "shape": list(tensor.shape),
                        "data_offsets": [offset, offset + len(data)]}
        chunks.append(data)
        offset += len(data)
    header["__metadata__"] = {"meta": ",".join(meta)}
    encoded = json.dumps(header, separators=(",", ":")).encode()
    encoded += b" " * (-len(encoded) % 8)  # the format pads the header to 8 bytes
    return struct.pack("<Q", len(encoded)) + encoded + b"".join(chunks)


def _raw_bytes(tensor):
    """A tensor's bytes: through NumPy where it is installed (the grading box refuses ctypes once the
    learner's code may run), else copied straight from memory (torch does not require NumPy)."""
    flat = tensor.detach().cpu().contiguous()
    try:
        import numpy  # noqa: F401
    except ImportError:
        return ctypes.string_at(flat.data_ptr(), flat.nbytes)
    return flat.reshape(-1).view(torch.uint8).numpy().tobytes()


def loads(data, max_elements):
    """bytes -> {name: tensor}, refusing anything but the exact layout, and more than max_elements in
    all. Meta tensors come back on the meta device."""
    if not isinstance(data, (bytes, bytearray)) or len(data) < 8:
        raise BadTensorFile("too short to be a tensor file")
    (length,) = struct.unpack("<Q", data[:8])
    if length > MAX_HEADER or 8 + length > len(data):
        raise BadTensorFile("header length out of bounds")
    try:
        header = json.loads(bytes(data[8:8 + length]))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise BadTensorFile(f"header is not JSON ({exc})") from None
    if not isinstance(header, dict):
        raise BadTensorFile("header is not an object")
    metadata = header.pop("__metadata__", {})
    meta_names = set(metadata.get("meta", "").split(",")) - {""} if isinstance(metadata, dict) else set()
    body, expected_offset, total, tensors = memoryview(data)[8 + length:], 0, 0, {}
    for name, entry in header.items():
        dtype, shape, (begin, end) = _entry(name, entry)
        count = math.prod(shape)
        total += count
        if total > max_elements:
            raise BadTensorFile(f"more than {max_elements} elements in all")
        size = 0 if name in meta_names else count * dtype.itemsize
        if begin != expected_offset or end - begin != size or end > len(body):
            raise BadTensorFile(f"{name}: data offsets do not match its shape and dtype")
        expected_offset = end
        if name in meta_names:
            tensors[name] = torch.empty(shape, dtype=dtype, device="meta")
        else:
            raw = torch.frombuffer(bytearray(body[begin:end]), dtype=torch.uint8) if size else \
                torch.empty(0, dtype=torch.uint8)
            tensors[name] = raw.view(dtype).reshape(shape) if size else torch.empty(shape, dtype=dtype)
    if expected_offset != len(body):
        raise BadTensorFile("trailing bytes after the last tensor")
    return tensors


def _entry(name, entry):
    try:
        dtype = DTYPES[entry["dtype"]]
        shape = entry["shape"]
        begin, end = entry["data_offsets"]
    except (KeyError, TypeError, ValueError):
        raise BadTensorFile(f"{name}: malformed entry") from None
    if not (isinstance(shape, list) and len(shape) <= 8
            and all(type(n) is int and 0 <= n < 1 << 31 for n in shape)):
        raise BadTensorFile(f"{name}: malformed shape")
    if not all(type(n) is int and n >= 0 for n in (begin, end)):
        raise BadTensorFile(f"{name}: malformed offsets")
    return dtype, tuple(shape), (begin, end)
