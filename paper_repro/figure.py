"""What a figure is, and the table figure modules register themselves in (read by ``registry``).

A figure is two functions: ``compute(quick) -> record`` (expensive; its record is cached as
``figures/NAME.json`` with config and provenance) and ``plot(record, png_path)`` (cheap; reads the
record only), and optionally a third, ``summarize(record) -> summary`` (cheap; the numbers the README
quotes, recomputed from the record's per-seed results). Figure modules import this module, never the registry, so there is no import cycle.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable

__all__ = ["Figure", "FIGURES", "register"]


@dataclass(frozen=True)
class Figure:
    name: str
    description: str  # what the reader should see
    compute: Callable[[bool], dict]  # quick -> record with keys "config", "results", "summary"
    plot: Callable[[dict, Path], None]
    #: record -> its "summary", from "config" and "results" alone (no computation). With it, a cached record's
    #: summary is recomputed on every use, so a comparison added to a figure reaches its committed record
    #: without re-running the cells.
    summarize: Callable[[dict], dict] | None = None
    #: The hypothesis the figure tests, in one sentence (its caption says it; "" for a teaching picture).
    hypothesis: str = ""


FIGURES: dict[str, Figure] = {}


def register(*figures: Figure) -> None:
    """Add figures to the table ``vpo repro`` walks; a name registered twice is an error."""
    for figure in figures:
        if figure.name in FIGURES:
            raise ValueError(f"figure {figure.name!r} is registered twice")
        FIGURES[figure.name] = figure
