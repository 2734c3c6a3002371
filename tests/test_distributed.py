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


def _one_and_two_processes(script: Path, argument: str, tmp_path: Path, port: int) -> tuple[dict, dict]:
    """Run ``script OUT argument`` in one process and under torchrun with two (gloo); their saved parameters."""
    torchrun = shutil.which("torchrun") or str(Path(sys.executable).parent / "torchrun")
    env = os.environ | {"OMP_NUM_THREADS": "1", "VPO_CACHE_DIR": str(tmp_path / "cache")}
    subprocess.run([sys.executable, str(script), str(tmp_path / "one.pt"), argument], check=True, env=env, timeout=300,
                   capture_output=True)
    subprocess.run([torchrun, "--nproc_per_node", "2", "--master_port", str(port), str(script), str(tmp_path / "two.pt"),
                    argument], check=True, env=env, timeout=300, capture_output=True)
    one, two = torch.load(tmp_path / "one.pt"), torch.load(tmp_path / "two.pt")
    assert one.keys() == two.keys()
    return one, two


@pytest.mark.slow  # ~18 s each; the default run keeps the suite under 5 minutes on 2 cores
@pytest.mark.parametrize("mode,port", [("offline", 29517), ("online", 29519)])
def test_two_processes_match_one(tmp_path, mode, port):
    one, two = _one_and_two_processes(SCRIPT, mode, tmp_path, port)
    for name in one:
        torch.testing.assert_close(two[name], one[name], rtol=1e-10, atol=1e-12, msg=name)


@pytest.mark.slow  # ~30 s each: three trainer builds under torchrun
@pytest.mark.parametrize("calibration,port", [("behavior", 29521), ("column", 29523)])
def test_vpotrainer_two_processes_match_one(tmp_path, calibration, port):
    """TRL's data-parallel path: two gloo processes with 2 pairs each take the steps of one process with 4."""
    pytest.importorskip("trl")
    from vpo_llm.models import TinyLMConfig, tiny_causal_lm

    one, two = _one_and_two_processes(Path(__file__).parent / "scripts" / "train_vpotrainer.py", calibration, tmp_path,
                                      port)
    start = dict(tiny_causal_lm(TinyLMConfig(vocab_size=16, seed=0)).to(torch.float64).named_parameters())
    for name in one:  # the steps move each matrix by ~2e-2; TRL's fused head sums in float32 (here ≤ 1.2e-8 apart)
        assert float((one[name] - start[name]).abs().max()) > 1e-3, name
        torch.testing.assert_close(two[name], one[name], rtol=1e-6, atol=1e-7, msg=name)
