"""Run many independent cells (seed × configuration) in parallel, with a progress bar and resume.

With ``cache_dir`` every finished cell is written at once (temporary file + rename) as
``<cache_dir>/<hash>.json``, the hash covering the function, its arguments and the git commit;
a rerun of the same code — after Ctrl-C, a kill, or a crash — loads the finished cells and
computes only the rest.

Backends: ``"joblib"`` (default; processes on this machine, all cores) or ``"dask"`` (a
dask.distributed cluster at ``scheduler``, e.g. ``tcp://10.0.0.5:8786``). With dask the
workers return values and this process writes the finished cells as they arrive, so the
workers need no shared disk. ``configure`` sets the defaults (``vpo repro --backend ...``).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import signal
import threading
import warnings
from pathlib import Path
from typing import Callable, Iterable

import numpy as np
from tqdm import tqdm  # plain text bars: also right in notebooks without ipywidgets; off when stderr is no terminal

from vpo_theory.records import remove_stale_temporaries, source_hash

from .common import atomic_write_json


BACKENDS = ("joblib", "dask")
DEFAULTS = {"backend": "joblib", "scheduler": None, "n_jobs": None}


def configure(*, backend: str = "joblib", scheduler: str | None = None, n_jobs: int | None = None) -> None:
    """Set the defaults of every later ``run_cells`` call (the figures call it without these arguments)."""
    _check_backend(backend, scheduler, n_jobs)
    DEFAULTS.update(backend=backend, scheduler=scheduler, n_jobs=n_jobs)


def _check_backend(backend, scheduler, n_jobs) -> None:
    if backend not in BACKENDS:
        raise ValueError(f"`backend` must be one of {BACKENDS}, got {backend!r}")
    if backend == "dask" and not scheduler:
        raise ValueError("the dask backend needs `scheduler`, the address of a running dask scheduler "
                         "(e.g. tcp://host:8786; start one with `dask scheduler` and `dask worker ADDRESS`)")
    if n_jobs is not None and (isinstance(n_jobs, bool) or not isinstance(n_jobs, int) or n_jobs < 1):
        raise ValueError(f"`n_jobs` must be a positive integer or None (all cores), got {n_jobs!r}")


def cell_key(function: Callable, cell: tuple, commit: str) -> str:
    """Hash of the function, its arguments and the code version: a code change never reuses old cells."""
    text = f"{commit}:{function.__module__}.{function.__qualname__}:{json.dumps(cell, sort_keys=True, default=str)}"
    return hashlib.sha256(text.encode()).hexdigest()[:24]


def _store(path: Path | None, cell: tuple, value) -> None:
    """One finished cell, written atomically (no-op without a cache)."""
    if path is not None:
        atomic_write_json(path, {"cell": list(cell), "value": value})


def _run_and_store(function: Callable, cell: tuple, path: Path | None):
    value = function(*cell)
    _store(path, cell, value)
    return value


def run_cells(function: Callable, cells: Iterable[tuple], *, n_jobs: int | None = None, desc: str = "cells",
              cache_dir: Path | None = None, backend: str | None = None, scheduler: str | None = None,
              sources: str | None = None) -> list:
    """[function(*cell) for cell in cells] in order, on all cores via joblib processes, or on a dask cluster.

    ``function`` must be a module-level function returning JSON-able data (floats, lists,
    arrays) when ``cache_dir`` is given. ``n_jobs``, ``backend``, ``scheduler``: None → ``DEFAULTS``. ``sources``: the
    hash of the code the cells run, part of each cached cell's key (None: every source file's, ``source_hash()``).
    """
    backend = backend or DEFAULTS["backend"]
    scheduler = scheduler or DEFAULTS["scheduler"]
    n_jobs = n_jobs or DEFAULTS["n_jobs"]
    _check_backend(backend, scheduler, n_jobs)
    cells = list(cells)
    # the code, not the commit: commits of data or documentation keep the cells
    commit = (sources or source_hash()) if cache_dir is not None else ""
    if cache_dir is not None:  # a run killed mid-write (SIGKILL) may have left a temporary file: not a finished cell
        remove_stale_temporaries(Path(cache_dir))
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
    if backend == "dask" and todo:
        return _run_on_dask(function, cells, todo, paths, results, scheduler, desc)
    n_jobs = n_jobs or min(len(todo), os.cpu_count() or 1)
    if n_jobs <= 1 or len(todo) <= 1:
        for i in tqdm(todo, desc=desc, leave=False, disable=None):
            results[i] = _run_and_store(function, cells[i], paths[i])
        return results
    from joblib import Parallel, delayed

    # loky reports the workers it retires between figures (idle timeout) as "a worker stopped": not an error here
    warnings.filterwarnings("ignore", message="A worker stopped while some jobs were given", category=UserWarning)
    parallel = Parallel(n_jobs=n_jobs, return_as="generator")
    with _sigterm_as_exit():  # a terminated driver unwinds, and joblib then stops its workers (no orphans)
        jobs = parallel(delayed(_run_and_store)(function, cells[i], paths[i]) for i in todo)
        for i, value in zip(todo, tqdm(jobs, total=len(todo), desc=desc, leave=False, disable=None)):
            results[i] = value
    return results


@contextlib.contextmanager
def _sigterm_as_exit():
    """SIGTERM raises SystemExit in the driver while cells run: the default action kills the driver outright and
    leaves joblib's worker processes computing with no one to read their results (seen: an orphan busy for an
    hour). Unwinding lets joblib abort and terminate them. (SIGKILL cannot be caught; finished cells are on disk.)"""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def stop(signum, frame):
        raise SystemExit(128 + signum)

    previous = signal.signal(signal.SIGTERM, stop)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def _run_on_dask(function, cells, todo, paths, results, scheduler, desc):
    """Submit the unfinished cells to a dask.distributed cluster; store each result as it completes."""
    try:
        from distributed import Client, as_completed
    except ImportError as error:
        raise ImportError("the dask backend needs dask.distributed: pip install 'vpo[dask]'") from error
    with Client(scheduler, timeout="30s") as client:
        futures = {client.submit(function, *cells[i], pure=False): i for i in todo}
        for future in tqdm(as_completed(futures), total=len(futures), desc=f"{desc} (dask)", leave=False,
                           disable=None):
            i = futures[future]
            results[i] = future.result()
            _store(paths[i], cells[i], results[i])
    return results
