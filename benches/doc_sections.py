"""The generated sections of docs/parallel.md, shared by compare_numpy.py and plot_scaling.py."""

from pathlib import Path


def replace_section(path: Path, name: str, body: str) -> None:
    """Rewrites the text between `<!-- name:begin -->` and `<!-- name:end -->` in `path`."""
    begin, end = f"<!-- {name}:begin -->", f"<!-- {name}:end -->"
    text = path.read_text() if path.exists() else (
        "# Parallel execution: measured figures\n\n"
        "Generated: the sections between markers are rewritten by `benches/plot_scaling.py` "
        "(from `cargo bench --bench parallel`) and `benches/compare_numpy.py`.\n"
    )
    section = f"{begin}\n{body.rstrip()}\n{end}"
    if begin in text and end in text:
        head, rest = text.split(begin, 1)
        _, tail = rest.split(end, 1)
        text = head + section + tail
    else:
        text = text.rstrip() + "\n\n" + section + "\n"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
