"""Kill a real run mid-way: the shared mechanics of the kill-and-resume tests."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from typing import Callable


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
