#!/usr/bin/env python3
"""Check safetensors files written by preallocate with the `safetensors` Python package.

usage: python3 tests/py/check_safetensors.py CASES.json

CASES.json is written by the Rust test `runtime/tests/python_interop.rs`:

    {"cases": [
      {"path": "/tmp/../f32-300.safetensors", "name": "features", "dtype": "F32",
       "shape": [300, 2, 3], "metadata": {"format": "pt"}, "expected": "/tmp/../f32-300.bin"}
    ]}

`expected` holds the tensor's values as raw little-endian bytes in C order, computed by the Rust
test. Each file is read with `safetensors.safe_open(framework="numpy")` and with
`safetensors.numpy.load_file`; the tensor names, the metadata, and the tensor's dtype, shape and
every value (bit for bit) must match. bf16 has no numpy dtype, so BF16 files are checked by the
Rust test with the Rust crate instead.

Exit code 0 when every case matches; 1 with one line per mismatch otherwise.
"""

import json
import struct
import sys

import numpy as np
import safetensors
from safetensors import safe_open
from safetensors.numpy import load_file

NUMPY_DTYPE = {
    "F16": "<f2", "F32": "<f4", "F64": "<f8",
    "I8": "|i1", "I16": "<i2", "I32": "<i4", "I64": "<i8",
    "U8": "|u1", "U16": "<u2", "U32": "<u4", "U64": "<u8",
}

failures = []


def fail(case, message):
    failures.append(f"{case['path']}: {message}")


def compare(case, label, array, expected_bytes):
    descr = NUMPY_DTYPE[case["dtype"]]
    if array.dtype.str != descr:
        fail(case, f"{label}: dtype {array.dtype.str!r}, expected {descr!r}")
    elif tuple(array.shape) != tuple(case["shape"]):
        fail(case, f"{label}: shape {tuple(array.shape)}, expected {tuple(case['shape'])}")
    elif np.ascontiguousarray(array).tobytes() != expected_bytes:
        width = f"u{array.dtype.itemsize}"
        got = np.ascontiguousarray(array).reshape(-1)
        want = np.frombuffer(expected_bytes, dtype=descr)
        index = int(np.flatnonzero(got.view(width) != want.view(width))[0])
        fail(case, f"{label}: value {index} (flat) is {got[index].item()!r}, "
                   f"expected {want[index].item()!r}")


def check(case, expected_bytes):
    path, name = case["path"], case["name"]
    with open(path, "rb") as f:
        (header_len,) = struct.unpack("<Q", f.read(8))
        header = f.read(header_len)
    if header_len % 8 != 0:
        fail(case, f"header length {header_len} is not a multiple of 8")
    if not header.startswith(b"{"):
        fail(case, f"header does not start with '{{': {header[:16]!r}")
    with safe_open(path, framework="numpy") as f:
        if list(f.keys()) != [name]:
            fail(case, f"tensors {list(f.keys())}, expected [{name!r}]")
            return
        metadata = f.metadata() or {}
        if metadata != (case.get("metadata") or {}):
            fail(case, f"metadata {metadata!r}, expected {case.get('metadata')!r}")
        compare(case, "safe_open().get_tensor", f.get_tensor(name), expected_bytes)
    tensors = load_file(path)
    compare(case, "safetensors.numpy.load_file", tensors[name], expected_bytes)


def main():
    if len(sys.argv) != 2:
        print(__doc__, file=sys.stderr)
        return 2
    with open(sys.argv[1]) as f:
        cases = json.load(f)["cases"]
    for case in cases:
        with open(case["expected"], "rb") as f:
            expected_bytes = f.read()
        try:
            check(case, expected_bytes)
        except Exception as err:  # noqa: BLE001 - any read failure is a mismatch to report
            fail(case, f"raised {type(err).__name__}: {err}")
    for line in failures:
        print(f"MISMATCH {line}")
    print(f"check_safetensors.py: safetensors {safetensors.__version__}, numpy {np.__version__}: "
          f"{len(cases)} cases, {len(failures)} mismatches")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
