"""Two CPU processes (gloo, torchrun) end with the same parameters as one process with the same global batch."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch

pytest.importorskip("accelerate")
SCRIPT = Path(__file__).parent / "scripts" / "train_tiny.py"


@pytest.mark.parametrize("mode,port", [("offline", 29517), ("online", 29519)])
def test_two_processes_match_one(tmp_path, mode, port):
    torchrun = shutil.which("torchrun") or str(Path(sys.executable).parent / "torchrun")
    env = os.environ | {"OMP_NUM_THREADS": "1", "VPO_CACHE_DIR": str(tmp_path / "cache")}
    subprocess.run([sys.executable, str(SCRIPT), str(tmp_path / "one.pt"), mode], check=True, env=env, timeout=300)
    subprocess.run([torchrun, "--nproc_per_node", "2", "--master_port", str(port), str(SCRIPT), str(tmp_path / "two.pt"),
                    mode], check=True, env=env, timeout=300, capture_output=True)
    one, two = torch.load(tmp_path / "one.pt"), torch.load(tmp_path / "two.pt")
    assert one.keys() == two.keys()
    for name in one:
        torch.testing.assert_close(two[name], one[name], rtol=1e-10, atol=1e-12, msg=name)
