"""The figures' one runner: a grid of cells → runs (cached, resumable, in parallel) → arrays indexed by the grid.

    grid = run_grid("online-regret", online_cell, {"instance": [...], "method": [...], "instance_seed": range(8),
                                                    "seed": range(20)}, fixed={"horizon": 400})
    grid.where(instance="tabular-trap", method="vpo").take("regret_T")   # (8, 20): instance seeds × data seeds

A cell is a module-level function of keyword arguments returning a JSON-able dict; every combination of the axes'
values (with ``fixed`` added) is one cell, run by ``sweep.run_cells`` with its cache under the figure's name.
"""

from __future__ import annotations

import importlib
import itertools
from dataclasses import dataclass
from typing import Callable

import numpy as np

from vpo_theory.records import source_hash

from .common import cache_dir
from .sweep import run_cells
from .tuned import tuned_values

__all__ = ["Grid", "run_grid"]


def _call(function: str, arguments: tuple, depends=None) -> dict:
    """Run the cell ``function`` ("module:name") with its keyword ``arguments`` ((name, value) pairs); ``depends`` is
    part of the cell's cache key only (what the cell reads besides its arguments, e.g. the tuned hyperparameters)."""
    module, name = function.split(":")
    return getattr(importlib.import_module(module), name)(**dict(arguments))


@dataclass
class Grid:
    """A grid's outputs, an object array with one axis per grid axis, in the axes' order."""

    axes: dict[str, list]
    outputs: np.ndarray

    def where(self, **values) -> "Grid":
        """The sub-grid at the given axis values (those axes removed)."""
        index, axes = [], {}
        for name, points in self.axes.items():
            if name in values:
                index.append(points.index(values[name]))
            else:
                index.append(slice(None))
                axes[name] = points
        return Grid(axes, self.outputs[tuple(index)])

    def take(self, key: str | None = None) -> np.ndarray:
        """A float array of every output's ``key`` (the outputs themselves with None), shaped like the grid (list
        values add their own trailing axes)."""
        flat = [output if key is None else output[key] for output in self.outputs.ravel()]
        return np.asarray(flat, dtype=np.float64).reshape(*self.outputs.shape, *np.shape(flat[0]))

    def items(self):
        """(point as {axis: value}, output) for every cell."""
        for index in np.ndindex(self.outputs.shape):
            yield {name: points[i] for (name, points), i in zip(self.axes.items(), index)}, self.outputs[index]


def run_grid(name: str, cell: Callable[..., dict], axes: dict, *, fixed: dict | None = None,
             depends=None) -> Grid:
    """Every combination of ``axes`` (name → values, in order) plus ``fixed``, run through ``cell`` (cached under
    ``name``, resumable, on every core); the outputs as a ``Grid``. ``depends`` (JSON-able): what the cells read
    besides their arguments — the tuned hyperparameters by default — so a cached cell is reused only while it is
    unchanged."""
    axes = {axis: list(values) for axis, values in axes.items()}
    function = f"{cell.__module__}:{cell.__qualname__}"
    depends = tuned_values() if depends is None else depends
    cells = [(function, tuple(sorted((dict(zip(axes, point)) | (fixed or {})).items())), depends)
             for point in itertools.product(*axes.values())]
    # a cached cell is keyed by the code its module runs (the other figures and the LLM stack left out)
    sources = source_hash(modules=[cell.__module__], skip=[f"{__package__}.figures"])
    outputs = run_cells(_call, cells, desc=name, cache_dir=cache_dir(name), sources=sources)
    array = np.empty(len(outputs), dtype=object)
    array[:] = outputs
    return Grid(axes, array.reshape([len(values) for values in axes.values()]))
