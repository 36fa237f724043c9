#!/usr/bin/env python3
"""Check Parquet files written by preallocate with pyarrow, Hugging Face datasets and polars.

usage: python3 tests/py/check_parquet.py CASES.json

CASES.json is written by the Rust test `tests/parquet_interop.rs`:

    {"cases": [
      {"path": "/tmp/../f32-300-plain.parquet", "kind": "file", "datasets": true,
       "columns": [{"name": "x", "dtype": "float32", "shape": [300, 3],
                    "expected": "/tmp/../f32-300.bin"}]}
    ]}

`kind` is "file" (one Parquet file) or "dir" (a directory of `part-NNNNN.parquet` shards and
their `manifest.json`, read as one dataset). `expected` holds the column's values as raw
little-endian bytes in C order, computed by the Rust test independently of the writer. Each
case is read with pyarrow (`pq.read_table`, or `pyarrow.dataset` for a directory) and polars
(`read_parquet`, or `scan_parquet` over the parts); cases marked `datasets` also with
`datasets.load_dataset("parquet", ...)` then `.with_format("numpy")`. Shape, dtype and every
value (bit for bit) must match.

Prints "N cases" and exits 0 when every case matches; exits 1 with one line per mismatch.
"""

import glob
import json
import os
import sys
import warnings

import numpy as np
import polars as pl
import pyarrow as pa
import pyarrow.dataset as ds
import pyarrow.parquet as pq

warnings.filterwarnings("ignore")
failures = []


def same_bits(actual, expected):
    width = f"u{expected.dtype.itemsize}"
    return actual.shape == expected.shape and np.array_equal(
        np.ascontiguousarray(actual).view(width), np.ascontiguousarray(expected).view(width)
    )


def check_array(where, actual, expected, dtype):
    actual = np.asarray(actual)
    if actual.dtype != dtype:
        failures.append(f"{where}: dtype {actual.dtype}, expected {dtype}")
    elif actual.shape != expected.shape:
        failures.append(f"{where}: shape {actual.shape}, expected {expected.shape}")
    elif not same_bits(actual, expected):
        failures.append(f"{where}: values differ")


def arrow_to_numpy(column, shape):
    """A column of nested fixed-size lists as an `(n, *row_shape)` array, as pyarrow gives it."""
    column = column.combine_chunks() if isinstance(column, pa.ChunkedArray) else column
    values = column
    while pa.types.is_fixed_size_list(values.type):
        values = values.flatten()
    return values.to_numpy(zero_copy_only=False).reshape(shape)


def parts(case):
    return sorted(glob.glob(os.path.join(case["path"], "part-*.parquet")))


def check_pyarrow(case, expected):
    if case["kind"] == "file":
        table = pq.read_table(case["path"])
    else:
        table = ds.dataset(case["path"], format="parquet", exclude_invalid_files=True).to_table()
    names = [c["name"] for c in case["columns"]]
    if table.column_names != names:
        failures.append(f"{case['path']}: pyarrow columns {table.column_names}, expected {names}")
        return
    for col in case["columns"]:
        where = f"{case['path']}:{col['name']} (pyarrow)"
        dtype, shape = expected[col["name"]]
        arrow_type = table.schema.field(col["name"]).type
        depth = 0
        while pa.types.is_fixed_size_list(arrow_type):
            if arrow_type.list_size != shape.shape[1 + depth]:
                failures.append(f"{where}: list size {arrow_type.list_size} at axis {1 + depth}")
            arrow_type = arrow_type.value_type
            depth += 1
        if depth != len(shape.shape) - 1:
            failures.append(f"{where}: {depth} fixed-size list levels, expected {len(shape.shape) - 1}")
            continue
        check_array(where, arrow_to_numpy(table.column(col["name"]), shape.shape), shape, dtype)


def check_polars(case, expected):
    if case["kind"] == "file":
        frame = pl.read_parquet(case["path"])
    else:
        frame = pl.scan_parquet(os.path.join(case["path"], "*.parquet")).collect()
    for col in case["columns"]:
        where = f"{case['path']}:{col['name']} (polars)"
        dtype, values = expected[col["name"]]
        series = frame.get_column(col["name"])
        if len(series) != values.shape[0]:
            failures.append(f"{where}: {len(series)} rows, expected {values.shape[0]}")
            continue
        if values.shape[0] == 0:
            continue
        check_array(where, series.to_numpy(), values, dtype)


def check_datasets(case, expected):
    import datasets

    datasets.disable_progress_bars()
    if case["kind"] == "file":
        loaded = datasets.load_dataset("parquet", data_files=case["path"], split="train")
    else:
        loaded = datasets.load_dataset(
            "parquet", data_files=os.path.join(case["path"], "*.parquet"), split="train"
        )
    for col in case["columns"]:
        where = f"{case['path']}:{col['name']} (datasets)"
        dtype, values = expected[col["name"]]
        # The features name the stored dtype and each axis's length.
        feature = loaded.features[col["name"]]
        for axis in values.shape[1:]:
            if getattr(feature, "length", None) != axis:
                failures.append(f"{where}: feature {loaded.features[col['name']]}, expected length {axis}")
                break
            feature = feature.feature
        else:
            if getattr(feature, "dtype", None) != str(dtype):
                failures.append(f"{where}: feature {loaded.features[col['name']]}, expected {dtype}")
        # `with_format("numpy", dtype=None)` keeps the stored dtype: bit for bit.
        exact = loaded.with_format("numpy", dtype=None)[:][col["name"]]
        check_array(where, exact, values, dtype)
        # Plain `with_format("numpy")` widens to datasets' defaults (int64, float32), as numpy
        # would cast the same values.
        default = np.dtype(np.int64 if np.issubdtype(dtype, np.integer) else np.float32)
        widened = np.asarray(loaded.with_format("numpy")[col["name"]])
        check_array(where + " default format", widened, values.astype(default), default)


def main():
    with open(sys.argv[1]) as f:
        cases = json.load(f)["cases"]
    for case in cases:
        expected = {}
        for col in case["columns"]:
            dtype = np.dtype(col["dtype"]).newbyteorder("<")
            values = np.fromfile(col["expected"], dtype=dtype).reshape(col["shape"])
            expected[col["name"]] = (dtype.newbyteorder("="), values)
        if case["kind"] == "dir" and not os.path.isfile(os.path.join(case["path"], "manifest.json")):
            failures.append(f"{case['path']}: no manifest")
        if case["kind"] == "dir" and not parts(case):
            failures.append(f"{case['path']}: no parts")
        check_pyarrow(case, expected)
        check_polars(case, expected)
        if case["datasets"]:
            check_datasets(case, expected)
    if failures:
        print("\n".join(failures))
        sys.exit(1)
    print(f"{len(cases)} cases")


main()
