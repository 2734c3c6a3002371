"""Provenance, atomic writes and small statistics shared by the figure scripts."""

from __future__ import annotations

import json
import os
import platform
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np


#: Where figure modules cache finished cells; ``registry.run_figures`` points it at OUT/.cache.
CACHE_ROOT = Path("figures/.cache")


def cache_dir(name: str) -> Path:
    return CACHE_ROOT / name


def git_commit() -> str:
    """The current commit (with "-dirty" if the tree has changes), or "unknown" outside git."""
    here = Path(__file__).resolve().parent
    try:
        commit = subprocess.run(["git", "rev-parse", "HEAD"], cwd=here, capture_output=True, text=True, timeout=10)
        if commit.returncode != 0:
            return "unknown"
        # "-dirty" flags uncommitted code; the figure records being (re)written do not count
        dirty = subprocess.run(["git", "status", "--porcelain", "--", ":/", ":(exclude,top)figures"], cwd=here,
                               capture_output=True, text=True, timeout=10)
        return commit.stdout.strip() + ("-dirty" if dirty.stdout.strip() else "")
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def provenance() -> dict[str, Any]:
    import vpo

    return {
        "package_version": vpo.__version__,
        "git_commit": git_commit(),
        "python": platform.python_version(),
        "numpy": np.__version__,
        "machine": platform.machine(),
        "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }


def _default(value):
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, (np.floating, np.integer)):
        return value.item()
    raise TypeError(f"not JSON-serializable: {type(value).__name__}")


def atomic_write_text(path: Path, text: str) -> None:
    """Write to a temporary file in the same folder, fsync, then rename: never a half-written file."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(handle, "w") as stream:
            stream.write(text)
            stream.flush()
            os.fsync(stream.fileno())
        os.replace(temporary, path)
    except BaseException:
        if os.path.exists(temporary):
            os.unlink(temporary)
        raise


def atomic_write_json(path: Path, record: dict) -> None:
    atomic_write_text(path, json.dumps(record, indent=1, default=_default, allow_nan=True) + "\n")


def mean_and_ci(values, axis: int = 0, level: float = 0.95):
    """Mean and the half-width of a Student-t confidence interval over ``axis`` (seeds)."""
    from scipy import stats

    values = np.asarray(values, dtype=np.float64)
    n = values.shape[axis]
    mean = values.mean(axis=axis)
    if n < 2:
        return mean, np.zeros_like(mean)
    sem = values.std(axis=axis, ddof=1) / np.sqrt(n)
    return mean, sem * stats.t.ppf(0.5 + level / 2, n - 1)


def save_figure(figure, path: Path) -> None:
    """Save a matplotlib figure through a temporary file and a rename."""
    import matplotlib.pyplot as plt

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.stem}.tmp{path.suffix}")
    figure.savefig(temporary, dpi=130, bbox_inches="tight")
    plt.close(figure)
    os.replace(temporary, path)


def pyplot():
    """matplotlib.pyplot on the non-interactive Agg backend."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def certificate_summary(cells: list[dict]) -> dict:
    """Over the online cells ({"certificate", "seconds_per_round", ...}) whose VPO step was certified: rounds
    certified, rounds, the largest gap / tolerance and the mean time per round; {} when there are none."""
    runs = [cell for cell in cells if cell["certificate"].get("method") == "certified"]
    if not runs:
        return {}
    return {"rounds_certified": int(sum(cell["certificate"]["rounds_certified"] for cell in runs)),
            "rounds": int(sum(cell["certificate"]["rounds"] for cell in runs)),
            "max_gap_over_tolerance": float(max(cell["certificate"]["max_gap_over_tolerance"] for cell in runs)),
            "seconds_per_round": float(sum(cell["seconds_per_round"] for cell in runs) / len(runs))}
