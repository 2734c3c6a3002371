"""One BLAS thread inside the experiment runners: identical results on every machine.

OpenBLAS splits even tiny products across threads, and the summation order then depends on
the thread count, so a run in the main process (2 threads) and the same run in a joblib
worker (1 thread) differed in the last bits, and the non-convex optimistic step amplified
that into different basins (measured: regret differing by 1.2 after 25 rounds). The matrices
here are at most a few hundred wide, so one thread is also no slower.
"""

from __future__ import annotations

import functools

from threadpoolctl import threadpool_limits


def single_blas_thread(function):
    """Decorator: run ``function`` with BLAS limited to one thread."""

    @functools.wraps(function)
    def wrapper(*args, **kwargs):
        with threadpool_limits(limits=1, user_api="blas"):
            return function(*args, **kwargs)

    return wrapper
