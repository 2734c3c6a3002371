"""The figure registry that ``vpo repro`` walks.

A figure is two functions: ``compute(quick) -> record`` (expensive; its record is cached as
``figures/NAME.json`` with config and provenance) and ``plot(record, png_path)`` (cheap; reads
the record only). A cached record whose config matches is reused unless ``force``.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from . import common
from .common import atomic_write_json, provenance


@dataclass(frozen=True)
class Figure:
    name: str
    description: str  # what the reader should see
    compute: Callable[[bool], dict]  # quick -> record with keys "config", "results", "summary"
    plot: Callable[[dict, Path], None]


FIGURES: dict[str, Figure] = {}


def register(figure: Figure) -> Figure:
    if figure.name in FIGURES:
        raise ValueError(f"figure {figure.name!r} is registered twice")
    FIGURES[figure.name] = figure
    return figure


def load_all() -> dict[str, Figure]:
    """Import every figure module (each registers itself)."""
    from . import figures  # noqa: F401

    return FIGURES


def run_figures(names: list[str], *, quick: bool, out: Path, force: bool = False, replot: bool = False,
                log: Callable[[str], None] = print) -> list[Path]:
    figures = load_all()
    if not figures:
        log("The figure registry is empty: no figure to regenerate yet.")
        return []
    if names in ([], ["all"]):
        names = list(figures)
    unknown = [name for name in names if name not in figures]
    if unknown:
        raise ValueError(f"unknown figure(s) {unknown}; choose from: {', '.join(figures)} or 'all'")
    written = []
    common.CACHE_ROOT = Path(out) / ".cache"
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
        figure.plot(record, png_path)
        summary = record.get("summary", {})
        log(f"[{name}] wrote {png_path} and {data_path}")
        for key, text in summary.items():
            log(f"    {key}: {text}")
        written += [png_path, data_path]
    return written
