#!/usr/bin/env python3
"""From Python: the same rows built several ways, timed in one process, each as a ratio to the
plain Python loop into `np.zeros`. Two jobs: `points` (a list of points into an n x 4 float32
array) and `tokenizer` (lines of text into the ids and the mask of their first 8 words, n x 8
uint32 and n x 8 uint8, with a fitted vocabulary).

usage: pip install examples/python datasets
       python3 benches/python_batch.py [--job points|tokenizer] [--rows N] [--reps K]

- loop: `for i, (x, y, z) in enumerate(points): out[i] = ...` into `np.zeros`
- np.fromiter: a generator of row tuples, `dtype=(float32, 4)`, `count=n`
- datasets.map: a Hugging Face `Dataset.from_dict` of the columns, `map(batched=True)` with
  numpy arithmetic per batch, then `with_format("numpy")` of the features
- batch / par_batch: `preallocate_example.featurize` (the row function of examples/python)
- the same from a numpy array of items: `featurize_row` (a row function on `&[f32]`) given the
  points as an n x 3 float32 array, whose rows it takes without a copy

For `tokenizer`: the loop splits each line and looks its words up in a dict; `np.fromiter` does
the same per line into one (n, 16) array; `datasets.map` runs that Python per batch; `batch` and
`par_batch` are `Tokenizer.tokenize` of examples/python (a `&self` method with two outputs),
from a list of `str` and from a numpy array of `str` (whose items are converted one by one).

Peak memory: each variant once more in a fresh child process, its peak resident memory (Linux's
`VmHWM`, reset once the items are built) above the memory it had before the call; the output
itself is 15.3 MiB at a million rows.
"""

import argparse
import math
import subprocess
import sys
import time

import numpy as np


def points(n):
    return [(i * 0.5, -i * 0.25, float(i % 7)) for i in range(n)]


def loop(pts):
    out = np.zeros((len(pts), 4), dtype=np.float32)
    for i, (x, y, z) in enumerate(pts):
        out[i] = (x, y, z, math.sqrt(x * x + y * y + z * z))
    return out


def fromiter(pts):
    rows = ((x, y, z, math.sqrt(x * x + y * y + z * z)) for x, y, z in pts)
    return np.fromiter(rows, dtype=np.dtype((np.float32, 4)), count=len(pts))


def datasets_map(pts):
    import datasets

    datasets.disable_progress_bars()
    xs, ys, zs = (list(c) for c in zip(*pts))
    ds = datasets.Dataset.from_dict({"x": xs, "y": ys, "z": zs})

    def features(batch):
        x, y, z = (np.asarray(batch[k], dtype=np.float32) for k in "xyz")
        return {"f": np.stack([x, y, z, np.sqrt(x * x + y * y + z * z)], axis=1)}

    mapped = ds.map(features, batched=True, batch_size=10_000, remove_columns=["x", "y", "z"])
    return mapped.with_format("numpy")[:]["f"]


def batch(pts):
    import preallocate_example as m

    return m.featurize.batch(pts)


def as_array(pts):
    return np.array(pts, dtype=np.float32)


def batch_array(arr):
    import preallocate_example as m

    return m.featurize_row.batch(arr)


def par_batch_array(arr):
    import preallocate_example as m

    return m.featurize_row.par_batch(arr)


def par_batch(pts):
    import preallocate_example as m

    return m.featurize.par_batch(pts)


WORDS = [f"w{k}" for k in range(5_000)]


def lines(n):
    return [" ".join(WORDS[(i * 7 + j * 13) % len(WORDS)] for j in range(4 + i % 9)) for i in range(n)]


def vocabulary():
    return {word: k + 1 for k, word in enumerate(WORDS)}


def tokenizer():
    import preallocate_example as m

    return m.Tokenizer(WORDS)


def tok_loop(texts):
    vocab = VOCAB
    ids = np.zeros((len(texts), 8), dtype=np.uint32)
    mask = np.zeros((len(texts), 8), dtype=np.uint8)
    for i, line in enumerate(texts):
        for j, word in enumerate(line.split()[:8]):
            ids[i, j] = vocab.get(word, 0)
            mask[i, j] = 1
    return {"ids": ids, "mask": mask}


def tok_row(line, vocab):
    words = line.split()[:8]
    pad = 8 - len(words)
    return tuple(vocab.get(w, 0) for w in words) + (0,) * pad + (1,) * len(words) + (0,) * pad


def tok_fromiter(texts):
    vocab = VOCAB
    both = np.fromiter((tok_row(line, vocab) for line in texts), dtype=np.dtype((np.uint32, 16)), count=len(texts))
    return {"ids": both[:, :8], "mask": both[:, 8:].astype(np.uint8)}


def tok_datasets_map(texts):
    import datasets

    datasets.disable_progress_bars()
    vocab = VOCAB
    ds = datasets.Dataset.from_dict({"text": texts})

    def encode(batch):
        rows = [tok_row(line, vocab) for line in batch["text"]]
        both = np.array(rows, dtype=np.uint32).reshape(-1, 16)
        return {"ids": both[:, :8], "mask": both[:, 8:].astype(np.uint8)}

    mapped = ds.map(encode, batched=True, batch_size=10_000, remove_columns=["text"])
    out = mapped.with_format("numpy")[:]
    return {"ids": out["ids"], "mask": out["mask"]}


def tok_batch(texts):
    return TOKENIZER.tokenize.batch(texts)


def tok_par_batch(texts):
    return TOKENIZER.tokenize.par_batch(texts)


VOCAB = vocabulary()
TOKENIZER = None

TOKENIZER_VARIANTS = {
    "loop": tok_loop,
    "np.fromiter": tok_fromiter,
    "datasets.map": tok_datasets_map,
    "batch": tok_batch,
    "par_batch": tok_par_batch,
    "batch (numpy items)": tok_batch,
    "par_batch (numpy items)": tok_par_batch,
}

VARIANTS = {
    "loop": loop,
    "np.fromiter": fromiter,
    "datasets.map": datasets_map,
    "batch": batch,
    "par_batch": par_batch,
    "batch (numpy items)": batch_array,
    "par_batch (numpy items)": par_batch_array,
}

# The variants whose items are a 2-D numpy array (built before the clock starts).
ARRAY_ITEMS = {"batch (numpy items)", "par_batch (numpy items)"}


def status_kib(field):
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise KeyError(field)


def items_of(job, name, rows):
    if job == "tokenizer":
        texts = lines(rows)
        return np.array(texts) if name in ARRAY_ITEMS else texts
    pts = points(rows)
    return as_array(pts) if name in ARRAY_ITEMS else pts


def child(job, name, rows):
    global TOKENIZER
    variants = TOKENIZER_VARIANTS if job == "tokenizer" else VARIANTS
    if job == "tokenizer":
        TOKENIZER = tokenizer()
    pts = items_of(job, name, rows)
    variants[name](pts[:1000])  # imports and warm-up
    # The peak so far is that of building the items: reset it (Linux), then measure from here.
    with open("/proc/self/clear_refs", "w") as clear:
        clear.write("5")
    base = status_kib("VmRSS")
    out = variants[name](pts)
    peak = status_kib("VmHWM")
    assert len(out["ids"] if job == "tokenizer" else out) == rows
    print((peak - base) / 1024)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--job", choices=["points", "tokenizer"], default="points")
    parser.add_argument("--child")
    args = parser.parse_args()
    if args.child:
        child(args.job, args.child, args.rows)
        return
    try:
        import preallocate_example  # noqa: F401
    except ImportError:
        sys.exit("SKIPPED: `pip install examples/python` first")
    variants = TOKENIZER_VARIANTS if args.job == "tokenizer" else VARIANTS
    try:
        import datasets  # noqa: F401
    except ImportError:
        variants.pop("datasets.map")
        print("(datasets is not installed: `pip install datasets` to compare with it)")
    if args.job == "tokenizer":
        tokenizer_job(args, variants)
        return
    pts = points(args.rows)
    arr = as_array(pts)
    reference = fromiter(pts)

    def check(out):
        np.testing.assert_allclose(out, reference, rtol=1e-6)

    times = timed(variants, lambda name: arr if name in ARRAY_ITEMS else pts, args.reps, check)
    out_mib = args.rows * 16 / 2**20
    title = f"{args.rows} points into a {args.rows} x 4 float32 array ({out_mib:.1f} MiB)"
    print_table(args, title, times)


def tokenizer_job(args, variants):
    global TOKENIZER
    TOKENIZER = tokenizer()
    texts = lines(args.rows)
    array = np.array(texts)
    reference = tok_loop(texts)

    def check(out):
        for key in ("ids", "mask"):
            np.testing.assert_array_equal(out[key], reference[key])

    times = timed(variants, lambda name: array if name in ARRAY_ITEMS else texts, args.reps, check)
    out_mib = args.rows * 40 / 2**20
    title = f"{args.rows} lines into n x 8 uint32 ids and n x 8 uint8 masks ({out_mib:.1f} MiB)"
    print_table(args, title, times)


def timed(variants, items_of_variant, reps, check):
    """The best of `reps` times of each variant on its items, each result checked."""
    times = {}
    for name, variant in variants.items():
        items = items_of_variant(name)
        best = math.inf
        for _ in range(reps):
            start = time.perf_counter()
            out = variant(items)
            best = min(best, time.perf_counter() - start)
        check(out)
        times[name] = best
    return times


def print_table(args, title, times):
    """The table of times against the loop's, with each variant's peak from a child process."""
    print(f"{title}; best of {args.reps}")
    print("| variant | seconds | time / loop | speed-up over loop | peak RSS above baseline (MiB) |")
    print("|---|---|---|---|---|")
    for name, secs in times.items():
        peak = subprocess.run(
            [sys.executable, __file__, "--job", args.job, "--child", name, "--rows", str(args.rows)],
            capture_output=True, text=True, check=True,
        ).stdout.strip()
        print(f"| {name} | {secs:.3f} | {secs / times['loop']:.3f} | {times['loop'] / secs:.1f}x | {float(peak):.1f} |")

if __name__ == "__main__":
    main()
