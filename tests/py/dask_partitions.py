#!/usr/bin/env python3
"""Run the partitions of `examples/zarr_partitioned` as tasks of a Dask distributed cluster.

usage: python3 tests/py/dask_partitions.py EXAMPLE_BINARY WORKDIR

A `LocalCluster` of 3 worker processes runs the 3 partitions of one job at once, one task each,
into `WORKDIR/out.zarr`; the task of partition 1 runs it slowly and kills it with SIGKILL once
it has stored a unit. Partition 1 is then run again as a new task and resumes. The array must
then be marked complete and equal, bit for bit, what a single process's `batch` of the same
readings gives (`--batch`), read through `dask.array.from_zarr` and `xarray.open_zarr`.

Prints one line of JSON with what happened; exit code 0 when every check holds.
"""

import glob
import json
import os
import signal
import subprocess
import sys
import time

ARGS = ["--rows", "15000", "--chunk-rows", "500", "--shard-rows", "1000"]


def run_partition(exe, store, k, n):
    """One worker: the example binary as partition k of n; its JSON report."""
    env = dict(os.environ, PREALLOCATE_PARTITION=f"{k}/{n}")
    env.pop("ZARR_EXAMPLE_PAUSE_MS", None)
    out = subprocess.run([exe, store, *ARGS], env=env, capture_output=True, text=True)
    if out.returncode != 0:
        raise RuntimeError(f"partition {k}/{n} failed: {out.stderr}")
    report = json.loads(out.stdout.strip().splitlines()[-1])
    report["worker_pid"] = os.getpid()
    return report


def recorded_units(records):
    """The units whose records are whole lines of the record files `records`."""
    units = []
    for record in records:
        with open(record) as f:
            text = f.read()
        units += [json.loads(line)["unit"] for line in text[: text.rfind("\n") + 1].splitlines()]
    return units


def run_and_kill(exe, store, k, n):
    """Partition k of n, slowed down, killed (SIGKILL) once it has stored one unit."""
    env = dict(os.environ, PREALLOCATE_PARTITION=f"{k}/{n}", ZARR_EXAMPLE_PAUSE_MS="1")
    proc = subprocess.Popen([exe, store, *ARGS], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.time() + 120
    records = []
    while time.time() < deadline and proc.poll() is None:
        records = glob.glob(os.path.join(store, "readings", ".preallocate", "*", "u-*.jsonl"))
        mine = [unit for unit in recorded_units(records) if 5 <= unit < 10]
        if mine:
            break
        time.sleep(0.005)
    if proc.poll() is not None:
        raise RuntimeError(f"partition {k}/{n} ended before it could be killed: {proc.returncode}")
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    return {"killed": k, "returncode": proc.returncode, "worker_pid": os.getpid()}


def main():
    exe, workdir = sys.argv[1], sys.argv[2]
    store = os.path.join(workdir, "out.zarr")

    import dask.array as da
    import numpy as np
    import xarray as xr
    import zarr
    from dask.distributed import Client, LocalCluster

    with LocalCluster(n_workers=3, threads_per_worker=1, processes=True,
                      dashboard_address=None) as cluster, Client(cluster) as client:
        workers = len(client.scheduler_info()["workers"])
        assert workers >= 3, f"{workers} workers"
        first = [
            client.submit(run_partition, exe, store, 0, 3, pure=False),
            client.submit(run_and_kill, exe, store, 1, 3, pure=False),
            client.submit(run_partition, exe, store, 2, 3, pure=False),
        ]
        reports = client.gather(first)
        array = zarr.open_array(store, path="readings", mode="r")
        complete_before = array.attrs["preallocate"]["complete"]
        rerun = client.submit(run_partition, exe, store, 1, 3, pure=False).result()

    checks = {}
    checks["3 worker processes ran the 3 partitions"] = len({r["worker_pid"] for r in reports}) == 3
    checks["killed with SIGKILL"] = reports[1]["returncode"] == -signal.SIGKILL
    checks["incomplete before the rerun"] = complete_before is False
    checks["the rerun resumed"] = rerun["resumed"] >= 1 and rerun["complete"] is True
    array = zarr.open_array(store, path="readings", mode="r")
    checks["marked complete"] = array.attrs["preallocate"]["complete"] is True

    subprocess.run([exe, "--batch", os.path.join(workdir, "ref.bin"), *ARGS[:2]],
                   check=True, capture_output=True)
    ref = np.fromfile(os.path.join(workdir, "ref.bin"), dtype="<f4").reshape(-1, 8)
    valid = np.fromfile(os.path.join(workdir, "ref.bin.valid"), dtype=np.uint8)

    x = da.from_zarr(store, component="readings")
    checks["dask chunks are the array's"] = x.chunks[0][0] in (500, 1000)
    values = x.compute()
    checks["dask equals batch bit for bit"] = values.shape == ref.shape and np.array_equal(
        values.view("<u4"), ref.view("<u4"))
    ds = xr.open_zarr(store, consolidated=False)
    checks["xarray dims"] = ds["readings"].dims == ("row", "readings_1")
    checks["xarray equals batch bit for bit"] = np.array_equal(
        ds["readings"].values.view("<u4"), ref.view("<u4"))
    checks["valid marks the dropped rows"] = np.array_equal(ds["readings_valid"].values, valid) and valid.min() == 0

    checks = {name: bool(ok) for name, ok in checks.items()}
    print(json.dumps({"workers": workers, "reports": reports, "rerun": rerun, "checks": checks}))
    sys.exit(0 if all(checks.values()) else 1)


if __name__ == "__main__":
    main()
