"""Run many independent cells (seed × configuration) in parallel with a progress bar."""

from __future__ import annotations

import os
from typing import Callable, Iterable

from tqdm.auto import tqdm


def run_cells(function: Callable, cells: Iterable[tuple], *, n_jobs: int | None = None, desc: str = "cells") -> list:
    """[function(*cell) for cell in cells], on all cores via joblib (processes), in order."""
    cells = list(cells)
    n_jobs = n_jobs or min(len(cells), os.cpu_count() or 1)
    if n_jobs <= 1 or len(cells) <= 1:
        return [function(*cell) for cell in tqdm(cells, desc=desc, leave=False)]
    from joblib import Parallel, delayed

    parallel = Parallel(n_jobs=n_jobs, return_as="generator")
    return list(tqdm(parallel(delayed(function)(*cell) for cell in cells), total=len(cells), desc=desc, leave=False))
