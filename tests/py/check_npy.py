#!/usr/bin/env python3
"""Check `.npy` files and shard directories written by preallocate against the values Rust computed.

usage: python3 tests/py/check_npy.py CASES.json

CASES.json is written by the Rust test `runtime/tests/python_interop.rs`:

    {"cases": [
      {"kind": "npy", "path": "/tmp/../f32-300.npy", "descr": "<f4", "shape": [300, 3],
       "expected": "/tmp/../f32-300.bin"},
      {"kind": "shards", "dir": "/tmp/../f32-300", "descr": "<f4", "shape": [300, 3],
       "shard_rows": 64, "expected": "/tmp/../f32-300.bin"}
    ]}

`expected` holds the whole array's values as raw little-endian bytes in C order, computed by the
Rust test independently of the writers. Each file is loaded with `np.load` and with
`np.load(mmap_mode="r")`; dtype, shape and every value (bit for bit, so NaN payloads and -0.0
count) must match. A single `.npy` must also be byte for byte what `np.save` writes for the same
array (on numpy versions that pad headers for growth, as the writer does).

Exit code 0 when every case matches; 1 with one line per mismatch otherwise.
"""

import glob
import io
import json
import math
import os
import sys

import numpy as np

failures = []


def fail(case, message):
    where = case.get("path") or case.get("dir")
    failures.append(f"{where}: {message}")


def first_difference(actual, expected):
    """Index and values of the first element whose bits differ."""
    width = f"u{actual.dtype.itemsize}"
    a = actual.reshape(-1).view(width)
    e = expected.reshape(-1).view(width)
    index = int(np.flatnonzero(a != e)[0])
    position = np.unravel_index(index, actual.shape)
    got, want = actual.reshape(-1)[index].item(), expected.reshape(-1)[index].item()
    return tuple(int(i) for i in position), got, want


def compare(case, label, array, descr, shape, expected_bytes):
    """Compare one loaded array with the expected dtype, shape and bytes. True if equal."""
    if array.dtype.str != descr:
        fail(case, f"{label}: dtype {array.dtype.str!r}, expected {descr!r}")
        return False
    if tuple(array.shape) != tuple(shape):
        fail(case, f"{label}: shape {tuple(array.shape)}, expected {tuple(shape)}")
        return False
    if not array.flags.c_contiguous:
        fail(case, f"{label}: not C-contiguous")
        return False
    if array.tobytes() != expected_bytes:
        expected = np.frombuffer(expected_bytes, dtype=descr).reshape(shape)
        position, got, want = first_difference(np.ascontiguousarray(array), expected)
        fail(case, f"{label}: value at {position} is {got!r}, expected {want!r}")
        return False
    return True


def load_both(case, path, descr, shape, expected_bytes):
    ok = True
    for mode in (None, "r"):
        label = f"np.load({os.path.basename(path)!r}, mmap_mode={mode!r})"
        try:
            array = np.load(path, mmap_mode=mode, allow_pickle=False)
        except Exception as err:  # noqa: BLE001 - any load failure is a mismatch to report
            fail(case, f"{label} raised {type(err).__name__}: {err}")
            ok = False
            continue
        ok &= compare(case, label, array, descr, shape, expected_bytes)
        del array
    return ok


def check_npy(case, expected_bytes):
    path = case["path"]
    if not load_both(case, path, case["descr"], case["shape"], expected_bytes):
        return
    if hasattr(np.lib.format, "GROWTH_AXIS_MAX_DIGITS"):
        saved = io.BytesIO()
        np.save(saved, np.load(path, allow_pickle=False))
        with open(path, "rb") as f:
            written = f.read()
        if saved.getvalue() != written:
            fail(case, "differs from what np.save writes for the same array "
                       f"(header {written[:128]!r} vs {saved.getvalue()[:128]!r})")


def check_shards(case, expected_bytes):
    directory = case["dir"]
    descr, shape, shard_rows = case["descr"], case["shape"], case["shard_rows"]
    row_shape = list(shape[1:])
    jsons = sorted(os.path.basename(p) for p in glob.glob(os.path.join(directory, "*.json")))
    if jsons != ["manifest.json"]:
        fail(case, f"expected exactly one *.json (manifest.json), found {jsons}")
        return
    with open(os.path.join(directory, "manifest.json")) as f:
        manifest = json.load(f)
    for key, want in [("rows", shape[0]), ("dtype", descr), ("row_shape", row_shape),
                      ("dim", math.prod(row_shape)), ("shard_rows", shard_rows)]:
        if manifest.get(key) != want:
            fail(case, f"manifest {key} is {manifest.get(key)!r}, expected {want!r}")
    listed = [s["file"] for s in manifest["shards"]]
    on_disk = sorted(os.path.basename(p) for p in glob.glob(os.path.join(directory, "part-*")))
    if sorted(listed) != on_disk:
        fail(case, f"manifest lists {listed}, directory holds {on_disk}")
        return
    if sum(s["rows"] for s in manifest["shards"]) != shape[0]:
        fail(case, "manifest shard rows do not add up to its total")
    itemsize = np.dtype(descr).itemsize
    row_bytes = math.prod(row_shape) * itemsize
    offset = 0
    for i, shard in enumerate(manifest["shards"]):
        rows = shard["rows"]
        last = i == len(manifest["shards"]) - 1
        if rows == 0 or rows > shard_rows or (not last and rows != shard_rows):
            fail(case, f"shard {shard['file']} has {rows} rows with shard_rows={shard_rows}")
        part = expected_bytes[offset:offset + rows * row_bytes]
        offset += rows * row_bytes
        load_both(case, os.path.join(directory, shard["file"]), descr, [rows] + row_shape, part)
    if offset != len(expected_bytes):
        fail(case, f"the shards hold {offset} bytes of data, expected {len(expected_bytes)}")


def main():
    if len(sys.argv) != 2:
        print(__doc__, file=sys.stderr)
        return 2
    with open(sys.argv[1]) as f:
        cases = json.load(f)["cases"]
    for case in cases:
        with open(case["expected"], "rb") as f:
            expected_bytes = f.read()
        {"npy": check_npy, "shards": check_shards}[case["kind"]](case, expected_bytes)
    for line in failures:
        print(f"MISMATCH {line}")
    print(f"check_npy.py: numpy {np.__version__}: {len(cases)} cases, {len(failures)} mismatches")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
