#!/usr/bin/env python3
"""Check Zarr v3 arrays written by preallocate with zarr-python, Dask and xarray.

usage: python3 tests/py/check_zarr.py CASES.json

CASES.json is written by the Rust test `tests/zarr_interop.rs`:

    {"cases": [
      {"store": "/tmp/../f32.zarr", "name": "x", "dtype": "float32", "shape": [300, 3],
       "expected": "/tmp/../f32-300.bin", "valid": null, "sharded": true}
    ]}

`expected` holds the whole array's values as raw little-endian bytes in C order, computed by
the Rust test independently of the writer; `valid`, when not null, is the raw `u8` bytes of the
companion `<name>_valid` array. Each array is read with `zarr.open_array`,
`dask.array.from_zarr` and `xarray.open_zarr`: dtype, shape, dimension names, the completion
mark and every value (bit for bit) must match.

Exit code 0 when every case matches; 1 with one line per mismatch otherwise.
"""

import json
import sys
import warnings

import dask.array as da
import numpy as np
import xarray as xr
import zarr

warnings.filterwarnings("ignore", category=RuntimeWarning)
failures = []


def same_bits(actual, expected):
    width = f"u{expected.dtype.itemsize}"
    return actual.shape == expected.shape and np.array_equal(
        np.ascontiguousarray(actual).view(width), np.ascontiguousarray(expected).view(width)
    )


def check(case):
    store, name = case["store"], case["name"]
    where = f"{store}/{name}"
    dtype = np.dtype(case["dtype"]).newbyteorder("<")
    shape = tuple(case["shape"])
    expected = np.fromfile(case["expected"], dtype=dtype).reshape(shape)

    array = zarr.open_array(store, path=name, mode="r")
    if array.dtype != dtype.newbyteorder("="):
        failures.append(f"{where}: zarr dtype {array.dtype}, expected {dtype}")
    if array.shape != shape:
        failures.append(f"{where}: zarr shape {array.shape}, expected {shape}")
        return
    if array.metadata.dimension_names[0] != "row":
        failures.append(f"{where}: dimension names {array.metadata.dimension_names}")
    mark = array.attrs.get("preallocate", {})
    if mark.get("complete") is not True:
        failures.append(f"{where}: not marked complete: {mark}")
    if case.get("sharded") and array.shards is None:
        failures.append(f"{where}: expected shards")
    if not same_bits(array[...], expected):
        failures.append(f"{where}: zarr values differ")

    dask_values = da.from_zarr(store, component=name).compute()
    if not same_bits(dask_values, expected):
        failures.append(f"{where}: dask values differ")

    dataset = xr.open_zarr(store, consolidated=False)
    variable = dataset[name]
    if variable.dims[0] != "row" or variable.shape != shape:
        failures.append(f"{where}: xarray dims {variable.dims} shape {variable.shape}")
    elif not same_bits(variable.values, expected):
        failures.append(f"{where}: xarray values differ")

    if case.get("valid") is not None:
        valid_expected = np.fromfile(case["valid"], dtype=np.uint8)
        valid = zarr.open_array(store, path=f"{name}_valid", mode="r")[...]
        if not same_bits(valid, valid_expected):
            failures.append(f"{where}: valid differs: {valid[:20]} vs {valid_expected[:20]}")
        if not same_bits(dataset[f"{name}_valid"].values, valid_expected):
            failures.append(f"{where}: xarray valid differs")


def main():
    with open(sys.argv[1]) as f:
        cases = json.load(f)["cases"]
    for case in cases:
        try:
            check(case)
        except Exception as err:  # noqa: BLE001 - every case reports its own failure
            failures.append(f"{case['store']}/{case['name']}: {type(err).__name__}: {err}")
    for line in failures:
        print(line)
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
