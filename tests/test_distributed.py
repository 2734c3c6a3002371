"""Two CPU processes (gloo, torchrun) end with the same parameters as one process with the same global batch."""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

import pytest
import torch

from tests.processes import run_or_fail

pytest.importorskip("accelerate")
SCRIPT = Path(__file__).parent / "scripts" / "train_tiny.py"


def _one_and_two_processes(script: Path, argument: str, tmp_path: Path) -> tuple[dict, dict]:
    """Run ``script OUT argument`` in one process and under torchrun with two (gloo); their saved parameters.

    ``--standalone`` lets torchrun's rendezvous take a free port. A fixed ``--master_port`` fails (exit 1,
    EADDRINUSE) whenever anything else on the host holds that port; CI failed once on 29523, and holding the
    port reproduces exactly that exit."""
    torchrun = shutil.which("torchrun") or str(Path(sys.executable).parent / "torchrun")
    env = os.environ | {"OMP_NUM_THREADS": "1", "VPO_CACHE_DIR": str(tmp_path / "cache")}
    run_or_fail([sys.executable, str(script), str(tmp_path / "one.pt"), argument], env)
    run_or_fail([torchrun, "--standalone", "--nproc_per_node", "2", str(script), str(tmp_path / "two.pt"), argument],
                env)
    one, two = torch.load(tmp_path / "one.pt"), torch.load(tmp_path / "two.pt")
    assert one.keys() == two.keys()
    return one, two


@pytest.mark.slow  # ~18 s each; the default run keeps the suite under 5 minutes on 2 cores
@pytest.mark.parametrize("mode", ["offline", "online"])
def test_two_processes_match_one(tmp_path, mode):
    """The task runs train through TRL's trainers, whose fused head sums in float32 even for a float64 model: the two
    runs agree to ~1e-9 offline and ~1e-7 online (a wrong split or gradient average would differ by the size of a
    step, ~1e-2). Online, the processes also share the round's files (reference pass, run folder)."""
    one, two = _one_and_two_processes(SCRIPT, mode, tmp_path)
    for name in one:
        torch.testing.assert_close(two[name], one[name], rtol=1e-5, atol=1e-6, msg=name)


@pytest.mark.slow  # ~30 s each: three trainer builds under torchrun
@pytest.mark.parametrize("calibration", ["behavior", "column"])
def test_vpotrainer_two_processes_match_one(tmp_path, calibration):
    """TRL's data-parallel path: two gloo processes with 2 pairs each take the steps of one process with 4."""
    pytest.importorskip("trl")
    from vpo_llm.models import TinyLMConfig, tiny_causal_lm

    one, two = _one_and_two_processes(Path(__file__).parent / "scripts" / "train_vpotrainer.py", calibration, tmp_path)
    start = dict(tiny_causal_lm(TinyLMConfig(vocab_size=16, seed=0)).to(torch.float64).named_parameters())
    for name in one:  # the steps move each matrix by ~2e-2; TRL's fused head sums in float32 (here ≤ 1.2e-8 apart)
        assert float((one[name] - start[name]).abs().max()) > 1e-3, name
        torch.testing.assert_close(two[name], one[name], rtol=1e-6, atol=1e-7, msg=name)
