"""Kill a real run mid-way: the shared mechanics of the kill-and-resume tests."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from typing import Callable


def run_or_fail(command: list[str], env: dict, *, timeout: float = 600) -> subprocess.CompletedProcess:
    """Run ``command`` to the end; if it fails, fail the test with the tail of its stderr (its traceback), which a
    bare ``check=True`` would leave out of the report."""
    import pytest

    result = subprocess.run(command, check=False, env=env, timeout=timeout, capture_output=True, text=True)
    if result.returncode != 0:
        pytest.fail(f"{' '.join(map(str, command))} exited {result.returncode}; its stderr ends:\n"
                    f"{result.stderr[-4000:]}")
    return result


def start(command: list[str], env: dict) -> subprocess.Popen:
    """Start ``command`` in a session of its own (so its worker processes can be signalled with it)."""
    return subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True)


def kill_when(process: subprocess.Popen, ready: Callable[[], bool], *, how: int = signal.SIGKILL,
              timeout: float = 300.0) -> None:
    """Poll ``ready()`` (exceptions count as not ready: a file being renamed into place), then send ``how`` to
    the process's whole group and wait for it."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            if ready():
                break
        except Exception:  # noqa: BLE001
            pass
        time.sleep(0.02)
    os.killpg(process.pid, how)
    process.wait()


def run_killed_and_clean(command: list[str], env: dict, clean, killed, ready: Callable[[], bool]) -> list:
    """Run ``command --out-dir clean`` to the end; run it into ``killed``, kill -9 it once ``ready()``, and rerun it
    there to the end. Returns the temporary files the kill left behind (the caller compares the two runs)."""
    run_or_fail([*command, "--out-dir", str(clean)], env)
    kill_when(start([*command, "--out-dir", str(killed)], env), ready)
    leftovers = list(killed.glob(".*tmp"))
    run_or_fail([*command, "--out-dir", str(killed)], env)
    return leftovers


def sleeping_cell(folder: str, index: int) -> int:
    """A cell for run_cells that records its worker's PID in ``folder`` and then sleeps (a long computation)."""
    from pathlib import Path

    Path(folder, f"{os.getpid()}.pid").write_text("")
    time.sleep(120)
    return index
