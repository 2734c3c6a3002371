"""Run many independent cells (seed × configuration) in parallel, with a progress bar and resume.

With ``cache_dir`` every finished cell is written at once (temporary file + rename) as
``<cache_dir>/<hash>.json``, the hash covering the function, its arguments and the git commit;
a rerun of the same code — after Ctrl-C, a kill, or a crash — loads the finished cells and
computes only the rest.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Callable, Iterable

import numpy as np
from tqdm.auto import tqdm

from .common import atomic_write_json, git_commit


def cell_key(function: Callable, cell: tuple, commit: str) -> str:
    """Hash of the function, its arguments and the code version: a code change never reuses old cells."""
    text = f"{commit}:{function.__module__}.{function.__qualname__}:{json.dumps(cell, sort_keys=True, default=str)}"
    return hashlib.sha256(text.encode()).hexdigest()[:24]


def _run_and_store(function: Callable, cell: tuple, path: Path | None):
    value = function(*cell)
    if path is not None:
        atomic_write_json(path, {"cell": list(cell), "value": value})
    return value


def run_cells(function: Callable, cells: Iterable[tuple], *, n_jobs: int | None = None, desc: str = "cells",
              cache_dir: Path | None = None) -> list:
    """[function(*cell) for cell in cells] in order, on all cores via joblib processes.

    ``function`` must be a module-level function returning JSON-able data (floats, lists,
    arrays) when ``cache_dir`` is given.
    """
    cells = list(cells)
    commit = git_commit() if cache_dir is not None else ""
    results: list = [None] * len(cells)
    paths: list[Path | None] = [None] * len(cells)
    todo = []
    for i, cell in enumerate(cells):
        if cache_dir is not None:
            paths[i] = Path(cache_dir) / f"{cell_key(function, cell, commit)}.json"
            if paths[i].exists():
                value = json.loads(paths[i].read_text())["value"]
                results[i] = np.asarray(value) if isinstance(value, list) else value
                continue
        todo.append(i)
    n_jobs = n_jobs or min(len(todo), os.cpu_count() or 1)
    if n_jobs <= 1 or len(todo) <= 1:
        for i in tqdm(todo, desc=desc, leave=False):
            results[i] = _run_and_store(function, cells[i], paths[i])
        return results
    from joblib import Parallel, delayed

    parallel = Parallel(n_jobs=n_jobs, return_as="generator")
    jobs = parallel(delayed(_run_and_store)(function, cells[i], paths[i]) for i in todo)
    for i, value in zip(todo, tqdm(jobs, total=len(todo), desc=desc, leave=False)):
        results[i] = value
    return results
