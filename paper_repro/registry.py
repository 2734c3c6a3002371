"""The figure registry that ``vpo repro`` walks.

A figure (``figure.Figure``) is two functions: ``compute(quick) -> record`` (expensive; its record is
cached as ``figures/NAME.json`` with config and provenance) and ``plot(record, png_path)`` (cheap;
reads the record only). A cached record whose config matches is reused unless ``force``.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Callable

from . import common
from .common import atomic_write_json, git_commit, provenance
from .figure import FIGURES, Figure, register  # noqa: F401  (re-exported)


def load_all() -> dict[str, Figure]:
    """Import every figure module (each registers itself in ``figure.FIGURES``); imported on first use, because
    the figure modules import the heavier parts of the package."""
    from . import figures  # noqa: F401

    return FIGURES


def run_figures(names: list[str], *, quick: bool, out: Path, force: bool = False, replot: bool = False,
                log: Callable[[str], None] = print, committed: Path | None = None) -> list[Path]:
    """Compute (or reuse) and plot each figure into ``out``; returns the files written.

    A quick run never replaces a full-size record: it refuses before computing anything. With
    ``committed`` (the folder of the full-size records), a quick run ends with each figure's quick
    numbers beside the committed ones.
    """
    figures = load_all()
    if not figures:
        log("The figure registry is empty: no figure to regenerate yet.")
        return []
    if names in ([], ["all"]):
        names = list(figures)
    unknown = [name for name in names if name not in figures]
    if unknown:
        raise ValueError(f"unknown figure(s) {unknown}; choose from: {', '.join(figures)} or 'all'")
    out = Path(out)
    if quick and not replot:
        full_size = [name for name in names if _is_full_size(out / f"{name}.json")]
        if full_size:
            raise ValueError(f"--out {out} holds full-size records ({', '.join(full_size)}) that a quick run would "
                             f"replace; write quick runs elsewhere (the default for --quick is figures/quick)")
    written, comparison = [], []
    common.CACHE_ROOT = out / ".cache"
    for name in names:
        figure = figures[name]
        data_path, png_path = out / f"{name}.json", out / f"{name}.png"
        record = None
        if data_path.exists() and not force:
            cached = json.loads(data_path.read_text())
            if replot or cached.get("config", {}).get("quick") == quick:
                record = cached
                log(f"[{name}] using cached data {data_path}")
        if record is None:
            if replot:
                raise FileNotFoundError(f"--replot needs cached data {data_path}; run without --replot first")
            log(f"[{name}] computing ({'quick' if quick else 'full'} size): {figure.description}")
            start = time.time()
            record = figure.compute(quick)
            record["provenance"] = provenance() | {"wall_time_s": round(time.time() - start, 2)}
            atomic_write_json(data_path, record)
        elif figure.summarize is not None:  # a cached record: its summary follows the current summarize()
            summary = figure.summarize(record)
            if summary != record.get("summary"):
                record["summary"] = summary
                record["provenance"] = record.get("provenance", {}) | {"summary_from": git_commit()}
                atomic_write_json(data_path, record)
                log(f"[{name}] summary recomputed from the cached per-seed results")
        figure.plot(record, png_path)
        summary = record.get("summary", {})
        log(f"[{name}] wrote {png_path} and {data_path}")
        for key, text in summary.items():
            log(f"    {key}: {text}")
        written += [png_path, data_path]
        if quick and committed is not None and _is_full_size(Path(committed) / f"{name}.json"):
            full = json.loads((Path(committed) / f"{name}.json").read_text()).get("summary", {})
            comparison += [(name, key, text, full.get(key, "—")) for key, text in summary.items()]
    if comparison:
        log(f"\nQuick numbers beside the committed full-size ones ({committed}/):")
        for name, key, quick_text, full_text in comparison:
            log(f"  [{name}] {key}\n      quick:     {quick_text}\n      committed: {full_text}")
    return written


def _is_full_size(path: Path) -> bool:
    """Whether ``path`` is a figure record computed at full size."""
    if not path.exists():
        return False
    try:
        return json.loads(path.read_text()).get("config", {}).get("quick") is False
    except (json.JSONDecodeError, AttributeError):
        return False
