#!/usr/bin/env python3
"""The same lines through the same tokenizer, in numpy and in Rust, side by side.

The script generates N lines of text (deterministic), writes them to a temporary file, fits a
vocabulary on them and encodes every line as 32 token ids (uint32) with three numpy patterns:

  (a) a Python list of rows, then ``np.array``;
  (b) ``np.zeros`` of the final shape, then a loop filling it row by row;
  (c) ``np.fromiter`` over the flattened rows, with the final count, then ``reshape``;

then runs ``cargo bench --bench parallel -- --compare FILE --npy OUT``, which encodes the same
file with the `#[preallocate]` row function `tokens` (same vocabulary rule, same tokenization),
through ``tokens::batch`` and ``tokens::par_batch`` (every core), and writes its rows to ``OUT``; the
script checks that array equal to numpy's.

The tokenization, on both sides: split on whitespace (the lines are ASCII letters and single
spaces), lowercase, look each of the first 32 words up in the vocabulary (1 when absent or
longer than 32 bytes), pad with 0. The vocabulary: words ranked by decreasing count, ties in
byte order; the first 4094 get ids 2, 3, ...

Reported: time per row (median of the repetitions after one warm-up, the three patterns
interleaved), and peak memory during the run above the memory live before it, divided by the
output's bytes: ``tracemalloc``'s peak for Python (numpy reports its buffers to it; measured in
separate runs, since tracing slows Python down), the bench's counting allocator for Rust. The
vocabulary fit is not timed on either side.

    python3 benches/compare_numpy.py              # 200 000 lines, about a minute
    python3 benches/compare_numpy.py --scale 0.01 # smoke run
    python3 benches/compare_numpy.py --no-docs    # print only, leave docs/parallel.md alone

The markdown table is printed and written into docs/parallel.md, between the markers
``<!-- compare_numpy:begin -->`` and ``<!-- compare_numpy:end -->``.
"""

import argparse
import itertools
import json
import os
import random
import subprocess
import sys
import tempfile
import time
import tracemalloc
from collections import Counter
from pathlib import Path

import numpy as np

from doc_sections import replace_section

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs" / "parallel.md"

WINDOW = 32
MAX_VOCAB = 4096
MAX_WORD = 32
PAD = 0
UNK = 1

FULL_LINES = 200_000


def generate(n, seed=0x5EED):
    """n lines of 20 to 44 words from a lexicon of 8192 made-up words, Zipf-like frequencies,
    some capitalized (the Rust bench's own generator follows the same recipe)."""
    syllables = "ka lo mi ne ru sa ti vo ze pa do fe gu hi ja bo".split()
    lexicon = []
    for k in range(16, 8192 + 16):
        word = []
        while k:
            word.append(syllables[k % 16])
            k //= 16
        lexicon.append("".join(word))
    rng = random.Random(seed)
    size = len(lexicon)
    lines = []
    for _ in range(n):
        words = []
        for i in range(20 + rng.randrange(25)):
            word = lexicon[min(int(size ** rng.random()) - 1, size - 1)]
            if i == 0 or rng.randrange(8) == 0:
                word = word.capitalize()
            words.append(word)
        lines.append(" ".join(words))
    return lines


def fit(lines):
    counts = Counter(w for line in lines for w in line.lower().split())
    ranked = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))[: MAX_VOCAB - 2]
    return {word: i for i, (word, _) in enumerate(ranked, start=2)}


def make_tokenize(vocab):
    get = vocab.get

    def tokenize(line):
        ids = [get(w, UNK) if len(w) <= MAX_WORD else UNK for w in line.lower().split()[:WINDOW]]
        if len(ids) < WINDOW:
            ids.extend([PAD] * (WINDOW - len(ids)))
        return ids

    return tokenize


def patterns(lines, tokenize):
    n = len(lines)

    def list_then_array():
        rows = [tokenize(line) for line in lines]
        return np.array(rows, dtype=np.uint32)

    def zeros_then_fill():
        out = np.zeros((n, WINDOW), dtype=np.uint32)
        for i, line in enumerate(lines):
            out[i] = tokenize(line)
        return out

    def fromiter():
        flat = itertools.chain.from_iterable(map(tokenize, lines))
        return np.fromiter(flat, dtype=np.uint32, count=n * WINDOW).reshape(n, WINDOW)

    return [
        ("numpy (a): list of rows, then `np.array`", list_then_array),
        ("numpy (b): `np.zeros`, then a fill loop", zeros_then_fill),
        ("numpy (c): `np.fromiter` (flattened), then `reshape`", fromiter),
    ]


def time_interleaved(fns, reps):
    times = [[] for _ in fns]
    for rep in range(reps + 1):
        for j in range(len(fns)):
            i = (j + rep) % len(fns)
            start = time.perf_counter()
            out = fns[i]()
            elapsed = time.perf_counter() - start
            del out
            if rep > 0:  # rep 0 is the warm-up
                times[i].append(elapsed)
    return [sorted(t)[len(t) // 2] for t in times]


def traced_peak(fn):
    tracemalloc.start()
    try:
        tracemalloc.reset_peak()
        base = tracemalloc.get_traced_memory()[0]
        out = fn()
        peak = tracemalloc.get_traced_memory()[1]
        del out
    finally:
        tracemalloc.stop()
    return peak - base


def run_rust(path, npy, reps):
    env = dict(os.environ)
    cmd = [
        "cargo", "bench", "--quiet", "--bench", "parallel", "--",
        "--compare", str(path), "--npy", str(npy), "--reps", str(reps),
    ]
    done = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True)
    if done.returncode != 0:
        sys.stderr.write(done.stderr)
        raise SystemExit(f"{' '.join(cmd)} failed ({done.returncode})")
    return [json.loads(line) for line in done.stdout.splitlines() if line.startswith("{")]


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", type=float, default=1.0, help="fraction of 200 000 lines")
    parser.add_argument("--reps", type=int, default=3, help="timed runs after one warm-up")
    parser.add_argument("--no-docs", action="store_true", help="do not write docs/parallel.md")
    args = parser.parse_args()
    n = max(1, round(FULL_LINES * args.scale))

    lines = generate(n)
    vocab = fit(lines)
    tokenize = make_tokenize(vocab)
    output_bytes = n * WINDOW * np.dtype(np.uint32).itemsize

    named = patterns(lines, tokenize)
    expected = named[0][1]()
    for name, fn in named[1:]:
        assert np.array_equal(fn(), expected), f"{name} differs from (a)"
    medians = time_interleaved([fn for _, fn in named], args.reps)
    peaks = [traced_peak(fn) for _, fn in named]

    with tempfile.TemporaryDirectory(prefix="compare-numpy") as tmp:
        text = Path(tmp) / "lines.txt"
        text.write_text("".join(line + "\n" for line in lines))
        npy = Path(tmp) / "rust.npy"
        rust = run_rust(text, npy, args.reps)
        got = np.load(npy)
    assert got.dtype == np.uint32 and got.shape == expected.shape, (got.dtype, got.shape)
    assert np.array_equal(got, expected), "the Rust rows differ from numpy's"

    rows = [
        (name, median * 1e9 / n, peak / output_bytes)
        for (name, _), median, peak in zip(named, medians, peaks)
    ]
    for r in rust:
        label = "Rust `tokens::batch`" if r["method"] == "batch" else (
            f"Rust `tokens::par_batch` ({r['threads']} threads)"
        )
        rows.append((label, r["ns_per_row"], r["peak_heap_per_output"]))
    rust_batch = next(r["ns_per_row"] for r in rust if r["method"] == "batch")

    cores = os.cpu_count()
    unknown = float(np.mean(expected == UNK)) / max(float(np.mean(expected != PAD)), 1e-12)
    table = [
        f"Same {n} generated lines (20 to 44 words each), same vocabulary ({len(vocab) + 2} ids), "
        f"same tokenization, {WINDOW} `uint32` ids per line ({unknown:.1%} of the real tokens "
        f"unknown); output {output_bytes / 2**20:.1f} MiB. Median of {args.reps} runs after 1 "
        f"warm-up, {cores} cores, numpy {np.__version__}, Python "
        f"{sys.version.split()[0]}. The Rust rows were checked equal to numpy's "
        "(`np.array_equal` on the `.npy` the bench wrote with `pipeline().write_npy`).",
        "",
        "Run with `python3 benches/compare_numpy.py`.",
        "",
        "| method | ns per row | time / Rust `batch` | peak memory / output bytes |",
        "|---|---:|---:|---:|",
    ]
    for name, ns, heap in rows:
        table.append(f"| {name} | {ns:,.0f} | {ns / rust_batch:.2f} | {heap:.2f} |")
    body = "\n".join(table)
    print(body)
    if not args.no_docs:
        replace_section(DOCS, "compare_numpy", "## Against numpy\n\n" + body)
        print(f"\nwritten into {DOCS.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
