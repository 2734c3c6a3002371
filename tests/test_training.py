"""The offline trainer and the bridge: accumulation, every parameter moves, resume, TV to the exact solution."""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest
import torch

pytest.importorskip("transformers")

from vpo_llm.bridge import BridgeConfig, run_bridge  # noqa: E402
from vpo_llm.models import TinyLMConfig, tiny_causal_lm  # noqa: E402
from vpo_llm.tasks import EnumerableTask, TaskConfig  # noqa: E402
from vpo_llm.training import OfflineConfig, train_offline  # noqa: E402

SMALL = OfflineConfig(num_pairs=64, steps=1, eval_every=1, dtype="float64",
                      task=TaskConfig(num_prompts=2, response_vocab=3, response_length=2))


def _trained_parameters(config, monkeypatch):
    model = train_offline(config, progress=False)["model"]
    return {name: p.detach().clone() for name, p in model.named_parameters()}


@pytest.mark.parametrize("calibration", ["chosen", "behavior", "ref"])
def test_batch_8_equals_batch_1_times_accumulation_8(monkeypatch, calibration):
    one_batch = dataclasses.replace(SMALL, batch_size=8, grad_accumulation=1, calibration=calibration)
    accumulated = dataclasses.replace(SMALL, batch_size=1, grad_accumulation=8, calibration=calibration)
    a = _trained_parameters(one_batch, monkeypatch)
    b = _trained_parameters(accumulated, monkeypatch)
    for name in a:
        torch.testing.assert_close(a[name], b[name], rtol=1e-10, atol=1e-12, msg=name)


def test_training_changes_every_parameter(monkeypatch):
    config = dataclasses.replace(SMALL, steps=40, eval_every=40, learning_rate=1e-2)
    initial = {n: p.detach().clone() for n, p in tiny_causal_lm(
        TinyLMConfig(vocab_size=config.task.vocab_size, seed=config.seed), dtype=torch.float64).named_parameters()}
    final = _trained_parameters(config, monkeypatch)
    unchanged = [name for name in initial if torch.equal(initial[name], final[name])]
    assert not unchanged, f"parameters not updated: {unchanged}"


@pytest.mark.parametrize("loss", ["vpo", "dpo", "ipo"])
def test_training_lowers_the_loss_on_the_data(loss):
    result = train_offline(dataclasses.replace(SMALL, steps=30, eval_every=30, learning_rate=1e-2, loss=loss),
                           progress=False)
    assert result["final"]["loss/full"] < 0.9 * result["history"][0]["loss/full"]


def test_interrupted_training_resumes_to_the_same_parameters(tmp_path, monkeypatch):
    straight = _trained_parameters(dataclasses.replace(SMALL, steps=6, eval_every=3), monkeypatch)
    run = tmp_path / "run"
    _trained_parameters(dataclasses.replace(SMALL, steps=3, eval_every=3, out_dir=str(run)), monkeypatch)  # "killed" at 3
    assert (run / "checkpoint.pt").exists() and not list(run.glob(".*tmp"))
    resumed = _trained_parameters(dataclasses.replace(SMALL, steps=6, eval_every=3, out_dir=str(run)), monkeypatch)
    for name in straight:
        torch.testing.assert_close(resumed[name], straight[name], rtol=1e-12, atol=1e-12, msg=name)
    lines = (run / "metrics.jsonl").read_text().splitlines()
    assert [json.loads(line)["step"] for line in lines] == [0, 3, 6]  # each evaluation written once


def test_task_policy_is_a_distribution_and_matches_the_theory_instance():
    task = EnumerableTask(TaskConfig(num_prompts=3, response_vocab=3, response_length=2))
    model = tiny_causal_lm(TinyLMConfig(vocab_size=task.config.vocab_size, seed=1), dtype=torch.float64)
    pi = task.policy_table(model)
    np.testing.assert_allclose(pi.sum(axis=1), 1.0, atol=1e-12)
    instance = task.bandit_instance(pi)
    np.testing.assert_allclose(instance.reward, task.reward)
    # exact evaluation by enumeration equals the theory module on the exported instance
    metrics = task.evaluate(model, pi)
    assert metrics["suboptimality"] == pytest.approx(
        instance.beta * instance.rho @ np.array([np.sum(p * (np.log(p) - np.log(q))) for p, q in zip(
            pi, np.exp(np.log(pi) + instance.reward / instance.beta) / np.exp(
                np.log(pi) + instance.reward / instance.beta).sum(1, keepdims=True))]), rel=1e-9)
    assert metrics["kl"] == pytest.approx(0.0, abs=1e-14)


def test_bad_config_is_refused():
    for kwargs, name in [({"loss": "kto"}, "loss"), ({"sign": 0}, "sign"), ({"steps": 0}, "steps"),
                         ({"calibration": "uniform"}, "calibration"), ({"learning_rate": 0.0}, "learning_rate")]:
        with pytest.raises(ValueError, match=name):
            OfflineConfig(**kwargs)


def test_bridge_reaches_the_exact_tabular_vpo_policy():
    result = run_bridge(BridgeConfig(steps=150, eval_every=150))
    assert result["tv"][0] > 0.05  # it starts far away …
    assert result["tv"][-1] <= 1e-3  # … and ends at the theory module's answer
    assert result["objective"][-1] == pytest.approx(result["exact_objective"], rel=1e-6)


def test_the_bridge_through_vpotrainer_reaches_the_exact_tabular_policy():
    """End to end through what users run: TRL rows, VPOTrainer, TRL's fused head; TV to fit_vpo's policy ≤ 1e-4."""
    pytest.importorskip("trl")
    from vpo_llm.bridge import run_bridge_through_vpotrainer

    result = run_bridge_through_vpotrainer(BridgeConfig(num_pairs=120, steps=220, eval_every=220))
    assert result["tv"][0] > 0.05
    assert result["tv"][-1] <= 1e-4, result["tv"]


def test_reference_policy_is_cached_on_disk(tmp_path, monkeypatch):
    monkeypatch.setenv("VPO_CACHE_DIR", str(tmp_path))
    config = dataclasses.replace(SMALL, steps=1, reference_pretrain_steps=5)
    first = train_offline(config, progress=False)["pi_ref"]
    cached = list(tmp_path.glob("reference-*.pt"))
    assert len(cached) == 1
    second = train_offline(config, progress=False)["pi_ref"]  # loaded, not retrained
    np.testing.assert_array_equal(first, second)
    assert np.abs(first - 1.0 / first.shape[1]).max() > 0.05  # non-uniform


@pytest.mark.slow  # ~30 s: three CLI processes. The default run keeps a real kill -9 (tests/test_reliability.py) and
# the trainers' resume-equals-uninterrupted checks (tests/test_trainers.py, tests/test_online_trainers.py)
def test_kill_9_mid_run_then_resume_ends_where_an_uninterrupted_run_ends(tmp_path):
    """A real process killed with SIGKILL after a checkpoint; the rerun resumes and matches a clean run."""
    import json
    import os
    import sys

    from tests.processes import run_killed_and_clean

    args = ["--steps", "60", "--eval-every", "5", "--num-pairs", "64", "--batch-size", "8", "--dtype", "float64"]
    env = os.environ | {"OMP_NUM_THREADS": "1"}
    command = [sys.executable, "-m", "vpo.cli", "llm", "offline", *args]
    clean, killed = tmp_path / "clean", tmp_path / "killed"
    # kill -9 once a checkpoint past step 10 is on disk
    interrupted, _, _, leftovers = run_killed_and_clean(
        command, env, clean, killed, lambda: torch.load(killed / "checkpoint.pt", weights_only=False)["step"] >= 10)
    assert 10 <= interrupted["step"] < 60 and not leftovers
    steps = [json.loads(line)["step"] for line in (killed / "metrics.jsonl").read_text().splitlines()]
    assert steps == list(range(0, 61, 5))  # every evaluation exactly once
