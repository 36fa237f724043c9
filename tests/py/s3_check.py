#!/usr/bin/env python3
"""Helpers of `tests/s3_moto.rs` around a moto S3 server on 127.0.0.1.

usage: python3 tests/py/s3_check.py create ENDPOINT BUCKET
       python3 tests/py/s3_check.py check ENDPOINT BUCKET PREFIX WORKDIR REFERENCE

`create` makes the bucket. `check` downloads every object under PREFIX into WORKDIR/copy.zarr
(object keys are the store's keys, so the copy is the same Zarr store on disk), opens it with
zarr-python and xarray, and compares the array `readings` with the raw reference written by
`zarr_partitioned --batch` (REFERENCE and REFERENCE.valid), bit for bit. Prints one line of
JSON; exit code 0 when every check holds.
"""

import json
import os
import sys

import boto3


def client(endpoint):
    return boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1",
                        aws_access_key_id="test", aws_secret_access_key="test")


def main():
    command, endpoint, bucket = sys.argv[1:4]
    s3 = client(endpoint)
    if command == "create":
        s3.create_bucket(Bucket=bucket)
        return
    prefix, workdir, reference = sys.argv[4:7]
    copy = os.path.join(workdir, "copy.zarr")
    keys = []
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix + "/"):
        for item in page.get("Contents", []):
            key = item["Key"]
            keys.append(key)
            target = os.path.join(copy, key[len(prefix) + 1:])
            os.makedirs(os.path.dirname(target), exist_ok=True)
            s3.download_file(bucket, key, target)

    import numpy as np
    import xarray as xr
    import zarr

    array = zarr.open_array(copy, path="readings", mode="r")
    ref = np.fromfile(reference, dtype="<f4").reshape(-1, 8)
    valid = np.fromfile(reference + ".valid", dtype=np.uint8)
    ds = xr.open_zarr(copy, consolidated=False)
    checks = {
        "complete": array.attrs["preallocate"]["complete"] is True,
        "shape": array.shape == ref.shape,
        "zarr equals batch": bool(np.array_equal(array[...].view("<u4"), ref.view("<u4"))),
        "xarray equals batch": bool(np.array_equal(ds["readings"].values.view("<u4"), ref.view("<u4"))),
        "valid": bool(np.array_equal(ds["readings_valid"].values, valid)),
    }
    print(json.dumps({"objects": len(keys), "checks": checks}))
    sys.exit(0 if all(checks.values()) else 1)


if __name__ == "__main__":
    main()
