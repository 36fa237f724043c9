#!/usr/bin/env python3
"""Throughput against threads, from the JSON lines of `cargo bench --bench parallel`.

Writes docs/scaling.svg (plain SVG, no plotting library): one panel per workload, rows per
second against threads for `par_batch` and `pipeline().threads(t).write_npy`, each with its
sequential method (`batch`, `pipeline().write_npy`) as a dashed horizontal line and the ideal
(sequential throughput × threads) as a dotted line; each point is labelled with its speed-up.
Also writes the bench's tables into docs/parallel.md, between the markers
``<!-- scaling:begin -->`` and ``<!-- scaling:end -->``.

    cargo bench --bench parallel
    python3 benches/plot_scaling.py            # reads target/parallel-bench.jsonl
    python3 benches/plot_scaling.py --json results.jsonl --svg out.svg --md out.md
"""

import argparse
import json
import math
import os
from pathlib import Path

from doc_sections import replace_section

ROOT = Path(__file__).resolve().parent.parent

# One colour per method family; measured solid, sequential dashed, ideal dotted.
FAMILIES = {
    "batch": ("par_batch", "batch", "#1f77b4"),
    "pipeline": ("threads(t).write_npy", "write_npy", "#d95f02"),
}
LABELS = {
    "tokens": "tokens: a line of text → 32 u32 token ids",
    "trivial": "trivial: an index → 3 f32",
}


def default_json():
    if "PREALLOCATE_BENCH_JSON" in os.environ:
        return Path(os.environ["PREALLOCATE_BENCH_JSON"])
    target = Path(os.environ.get("CARGO_TARGET_DIR", ROOT / "target"))
    return target / "parallel-bench.jsonl"


def esc(text):
    return str(text).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def nice_step(span, ticks=5):
    raw = span / ticks
    power = 10 ** math.floor(math.log10(raw))
    for m in (1, 2, 2.5, 5, 10):
        if m * power >= raw:
            return m * power
    return 10 * power


def fmt_rate(v):
    for unit, scale in (("G", 1e9), ("M", 1e6), ("k", 1e3)):
        if v >= scale:
            s = f"{v / scale:.2f}".rstrip("0").rstrip(".")
            return f"{s}{unit}"
    return f"{v:g}"


def per_row(record):
    ns = record["median_s"] * 1e9 / record["rows"]
    return f"{ns / 1e3:.2f} µs/row" if ns >= 1e3 else f"{ns:.1f} ns/row"


def panel(records, workload, family, x0, y0, w, h):
    """One panel's SVG elements (one workload, one method family), plot area at (x0, y0)."""
    parallel, sequential, colour = FAMILIES[family]
    rows = [r for r in records if r["workload"] == workload and r["family"] == family]
    seq = next(r for r in rows if r["threads"] is None)
    par = sorted((r for r in rows if r["threads"] is not None), key=lambda r: r["threads"])
    threads = [r["threads"] for r in par]
    tmax = max(threads)
    s = seq["rows_per_s"]
    ymax = max([r["rows_per_s"] for r in rows] + [s * tmax])
    step = nice_step(ymax * 1.1)
    ytop = step * math.ceil(ymax * 1.1 / step)

    def px(t):
        return x0 + w * t / tmax

    def py(v):
        return y0 + h - h * v / ytop

    out = []
    what = "par_batch vs batch" if family == "batch" else "threads(t).write_npy vs write_npy"
    out.append(
        f'<text x="{x0 + w / 2}" y="{y0 - 28}" text-anchor="middle" font-size="14" '
        f'font-weight="bold">{esc(LABELS.get(workload, workload))}</text>'
    )
    out.append(
        f'<text x="{x0 + w / 2}" y="{y0 - 10}" text-anchor="middle" font-size="13">'
        f"{esc(what)}, {seq['rows']:,} rows, {per_row(seq)} sequential</text>"
    )
    # Grid and y ticks.
    v = 0.0
    while v <= ytop + step / 2:
        y = py(v)
        out.append(f'<line x1="{x0}" y1="{y:.1f}" x2="{x0 + w}" y2="{y:.1f}" stroke="#e5e5e5"/>')
        out.append(
            f'<text x="{x0 - 8}" y="{y + 4:.1f}" text-anchor="end" font-size="12">'
            f"{fmt_rate(v)}</text>"
        )
        v += step
    # Axes and x ticks.
    out.append(f'<line x1="{x0}" y1="{y0 + h}" x2="{x0 + w}" y2="{y0 + h}" stroke="#333"/>')
    out.append(f'<line x1="{x0}" y1="{y0}" x2="{x0}" y2="{y0 + h}" stroke="#333"/>')
    for t in [0] + threads:
        x = px(t)
        out.append(f'<line x1="{x:.1f}" y1="{y0 + h}" x2="{x:.1f}" y2="{y0 + h + 5}" stroke="#333"/>')
        out.append(
            f'<text x="{x:.1f}" y="{y0 + h + 20}" text-anchor="middle" font-size="12">{t}</text>'
        )
    out.append(
        f'<text x="{x0 + w / 2}" y="{y0 + h + 40}" text-anchor="middle" font-size="13">'
        "threads</text>"
    )
    out.append(
        f'<text x="{x0 - 58}" y="{y0 + h / 2}" text-anchor="middle" font-size="13" '
        f'transform="rotate(-90 {x0 - 58} {y0 + h / 2})">rows per second</text>'
    )
    # Ideal: the sequential throughput times the threads; sequential: a horizontal line.
    out.append(
        f'<line x1="{px(0):.1f}" y1="{py(0):.1f}" x2="{px(tmax):.1f}" y2="{py(s * tmax):.1f}" '
        f'stroke="#888" stroke-width="1.5" stroke-dasharray="2 4"/>'
    )
    out.append(
        f'<line x1="{px(0):.1f}" y1="{py(s):.1f}" x2="{px(tmax):.1f}" y2="{py(s):.1f}" '
        f'stroke="{colour}" stroke-width="1.5" stroke-dasharray="8 5" opacity="0.8"/>'
    )
    points = [(px(r["threads"]), py(r["rows_per_s"]), r["speedup"]) for r in par]
    path = " ".join(f"{x:.1f},{y:.1f}" for x, y, _ in points)
    out.append(f'<polyline points="{path}" fill="none" stroke="{colour}" stroke-width="2.5"/>')
    for x, y, speedup in points:
        out.append(f'<circle cx="{x:.1f}" cy="{y:.1f}" r="4.5" fill="{colour}"/>')
        below = y < y0 + 20
        out.append(
            f'<text x="{x - 8:.1f}" y="{y + (18 if below else -10):.1f}" text-anchor="end" '
            f'font-size="12" font-weight="bold" fill="{colour}">{speedup:.2f}×</text>'
        )
    return out


def legend(x, y, right):
    """The legend, from (x, y), wrapping before `right`."""
    out = []
    items = []
    for parallel, sequential, colour in FAMILIES.values():
        items.append((f"{parallel} (label: speed-up)", colour, "", 2.5))
        items.append((f"{sequential}, sequential", colour, "8 5", 1.5))
    items.append(("ideal: sequential × threads", "#888", "2 4", 1.5))
    xx = x
    for label, colour, dash, width in items:
        span = 34 + 6.6 * len(label) + 22
        if xx + span > right and xx > x:
            xx, y = x, y + 20
        dash_attr = f' stroke-dasharray="{dash}"' if dash else ""
        out.append(
            f'<line x1="{xx}" y1="{y}" x2="{xx + 28}" y2="{y}" stroke="{colour}" '
            f'stroke-width="{width}"{dash_attr}/>'
        )
        out.append(f'<text x="{xx + 34}" y="{y + 4}" font-size="12">{esc(label)}</text>')
        xx += span
    return out


def svg(records):
    workloads = [w for w in LABELS if any(r["workload"] == w for r in records)]
    pw, ph, left, gap, top, vgap = 440, 260, 90, 110, 100, 130
    width = left + len(workloads) * pw + (len(workloads) - 1) * gap + 40
    height = top + len(FAMILIES) * ph + (len(FAMILIES) - 1) * vgap + 110
    first = records[0]
    title = (
        f"preallocate: throughput against threads ({first['cores']} cores, "
        f"median of {first['reps']} runs, scale {first['scale']:g})"
    )
    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" font-family="Helvetica, Arial, sans-serif">',
        f'<rect width="{width}" height="{height}" fill="white"/>',
        f'<text x="{width / 2}" y="30" text-anchor="middle" font-size="17" font-weight="bold">'
        f"{esc(title)}</text>",
    ]
    out += legend(left, 58, width - 20)
    for j, family in enumerate(FAMILIES):
        for i, workload in enumerate(workloads):
            out += panel(records, workload, family, left + i * (pw + gap), top + 40 + j * (ph + vgap), pw, ph)
    out.append("</svg>")
    return "\n".join(out) + "\n"


def tables(records):
    first = records[0]
    lines = [
        f"`cargo bench --bench parallel` on {first['cores']} cores: median of {first['reps']} "
        f"runs after 1 warm-up, scale {first['scale']:g}"
        + ". Runs during which other processes used more than 5% of the CPU time were run again "
        f"({first.get('runs_retried', 0)} were; {first.get('runs_kept_loaded', 0)} still loaded "
        "after 20 attempts were kept); the last column is the share other processes used during "
        "the kept runs. Speed-up: the sequential method's median time ÷ the variant's. Peak heap: the "
        "most heap bytes live during a run above those live before it ÷ the output's bytes "
        "(for the pipelines, the bytes of the whole file, of which they hold a chunk or two).",
        "",
        "![throughput against threads](scaling.svg)",
        "",
        "| workload | method | threads | median time (ms) | rows/s | speed-up vs sequential "
        "| peak heap / output bytes | other processes' CPU |",
        "|---|---|---:|---:|---:|---:|---:|---:|",
    ]
    for r in records:
        shape = "32 u32" if r["workload"] == "tokens" else "3 f32"
        threads = "—" if r["threads"] is None else str(r["threads"])
        lines.append(
            f"| {r['workload']} {r['rows']:,} × {shape} | `{r['method']}` | {threads} "
            f"| {r['median_s'] * 1e3:.2f} | {fmt_rate(r['rows_per_s'])} | {r['speedup']:.2f}× "
            f"| {r['peak_heap_per_output']:.3f} | {r.get('foreign_cpu_share', 0) * 100:.1f}% |"
        )
    return "\n".join(lines)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", type=Path, default=default_json())
    parser.add_argument("--svg", type=Path, default=ROOT / "docs" / "scaling.svg")
    parser.add_argument("--md", type=Path, default=ROOT / "docs" / "parallel.md")
    args = parser.parse_args()
    records = [json.loads(line) for line in args.json.read_text().splitlines() if line.strip()]
    if not records:
        raise SystemExit(f"no results in {args.json}")
    args.svg.parent.mkdir(parents=True, exist_ok=True)
    args.svg.write_text(svg(records))
    body = "## Scaling\n\n" + tables(records)
    replace_section(args.md, "scaling", body)
    print(body)
    print(f"\nwritten {args.svg} and {args.md}")


if __name__ == "__main__":
    main()
