"""Offline training on the enumerable task through VPOTrainer (the one training stack): it equals an independent
full-batch trainer written in the tests, every trainable parameter moves, a run resumes to the same parameters, π_ref
is fitted once, and the bridge reaches the exact tabular VPO policy."""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest
import torch

pytest.importorskip("trl")

from vpo_llm.bridge import BridgeConfig, run_bridge  # noqa: E402
from vpo_llm.configs import OfflineConfig, TaskConfig  # noqa: E402
from vpo_llm.models import TinyLMConfig, tiny_causal_lm  # noqa: E402
from vpo_llm.runs import train_offline  # noqa: E402
from vpo_llm.tasks import EnumerableTask  # noqa: E402
from vpo_llm.term import VPOTerm  # noqa: E402

SMALL = OfflineConfig(num_pairs=64, steps=1, eval_every=1, dtype="float64", batch_size=8, progress=False,
                      task=TaskConfig(num_prompts=2, response_vocab=3, response_length=2))


def _parameters(model) -> dict:
    return {name: p.detach().clone() for name, p in model.named_parameters() if p.requires_grad}


def test_vpotrainer_on_the_task_equals_an_independent_full_batch_trainer():
    """Full batch (every pair in each step), AdamW at a constant rate, no clipping: VPOTrainer's parameters after 5
    steps equal those of tests/reference_trainer.py's plain-torch loop on the exact task log-probs (TRL's fused head
    sums in float32: ~1e-7)."""
    import datasets

    import vpo_theory as vt
    from vpo_llm.task_trainers import prompt_text, response_text, task_setup
    from vpo_llm.trainers import VPOConfig, VPOTrainer
    from tests.reference_trainer import full_batch_steps

    config = dataclasses.replace(SMALL, num_pairs=24, batch_size=24)
    task, tokenizer, model, reference, pi_ref = task_setup(config)
    instance = task.bandit_instance(pi_ref)
    x, winner, loser = vt.sample_preferences(np.random.default_rng(0), instance.rho, pi_ref, instance.reward,
                                             24).astuple()
    twin = {name: p.detach().clone() for name, p in model.state_dict().items()}
    rows = {"prompt": [prompt_text(task, i) for i in x], "chosen": [response_text(task, y) for y in winner],
            "rejected": [response_text(task, y) for y in loser]}
    beta, a = 0.5, 0.3
    args = VPOConfig(output_dir="unused", beta=beta, vpo_alpha=a, vpo_calibration="behavior", vpo_completion_eos=False,
                     per_device_train_batch_size=24, max_steps=5, learning_rate=1e-2, lr_scheduler_type="constant",
                     weight_decay=0.0, max_grad_norm=0.0, bf16=False, use_cpu=True, report_to=[], save_strategy="no",
                     disable_tqdm=True, seed=0)
    trainer = VPOTrainer(model=model, ref_model=reference, args=args, train_dataset=datasets.Dataset.from_dict(rows),
                         processing_class=tokenizer)
    trainer.train()
    ours = _parameters(trainer.model)
    model.load_state_dict(twin)  # the same start, for the independent loop
    expected = full_batch_steps(model, reference, task, x, winner, loser, beta=beta, alpha=a, sign=-1, steps=5,
                                learning_rate=1e-2, calibration="behavior")
    moved = max(float((ours[n] - twin[n]).abs().max()) for n in ours)
    assert moved > 1e-3
    for name in ours:
        torch.testing.assert_close(ours[name], expected[name], rtol=1e-5, atol=1e-6, msg=name)


def test_training_changes_every_trainable_parameter_and_improves_the_exact_value():
    result = train_offline(dataclasses.replace(SMALL, steps=30, eval_every=30, learning_rate=1e-2))
    start = tiny_causal_lm(TinyLMConfig(vocab_size=SMALL.task.vocab_size, seed=0), dtype=torch.float64)
    trained = dict(result["model"].named_parameters())
    for name, initial in start.named_parameters():
        if name in trained and trained[name].requires_grad and trained[name].shape == initial.shape:
            assert not torch.equal(trained[name].detach(), initial.detach()), name
    assert result["history"][-1]["value"] > result["history"][0]["value"]


@pytest.mark.parametrize("loss", ["vpo", "dpo", "ipo"])
def test_each_loss_lowers_its_training_loss(loss):
    result = train_offline(dataclasses.replace(SMALL, steps=30, eval_every=5, learning_rate=1e-2, loss=loss))
    logged = [row["loss"] for row in result["log"] if "loss" in row]
    assert logged[-1] < 0.9 * logged[0]


def test_an_interrupted_run_resumes_to_the_same_parameters(tmp_path):
    """6 steps straight equal 3 steps, then a rerun on the same folder to 6 (TRL's checkpoint-3); the exact
    evaluations are written once each."""
    straight = _parameters(train_offline(dataclasses.replace(SMALL, steps=6, eval_every=3))["model"])
    run = tmp_path / "run"
    train_offline(dataclasses.replace(SMALL, steps=3, eval_every=3, out_dir=str(run)))  # "killed" after step 3
    assert (run / "checkpoint-3").is_dir()
    resumed = train_offline(dataclasses.replace(SMALL, steps=6, eval_every=3, out_dir=str(run)))
    for name, value in straight.items():
        torch.testing.assert_close(_parameters(resumed["model"])[name], value, rtol=1e-10, atol=1e-12, msg=name)
    steps = [json.loads(line)["step"] for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert steps == [0, 3, 6]


def test_the_calibration_from_reference_samples_runs_on_the_task():
    result = train_offline(dataclasses.replace(SMALL, steps=20, eval_every=10, learning_rate=1e-2,
                                               term=VPOTerm(calibration="reference")))
    assert [row["step"] for row in result["history"]] == [0, 10, 20]
    np.testing.assert_allclose(result["policy"].sum(axis=1), 1.0, atol=1e-9)


def test_task_policy_is_a_distribution_and_matches_the_theory_instance():
    task = EnumerableTask(TaskConfig(num_prompts=3, response_vocab=3, response_length=2))
    model = tiny_causal_lm(TinyLMConfig(vocab_size=task.config.vocab_size, seed=1), dtype=torch.float64)
    pi = task.policy_table(model)
    np.testing.assert_allclose(pi.sum(axis=1), 1.0, atol=1e-12)
    instance = task.bandit_instance(pi)
    np.testing.assert_allclose(instance.reward, task.reward)
    metrics = task.evaluate(model, pi)  # exact evaluation by enumeration equals the theory module on the instance
    optimal = np.exp(np.log(pi) + instance.reward / instance.beta)
    optimal /= optimal.sum(1, keepdims=True)
    assert metrics["suboptimality"] == pytest.approx(instance.beta * instance.rho @ np.array(
        [np.sum(p * (np.log(p) - np.log(q))) for p, q in zip(pi, optimal)]), rel=1e-9)
    assert metrics["kl"] == pytest.approx(0.0, abs=1e-14)


def test_bad_config_is_refused_by_name():
    for kwargs, name in [({"loss": "kto"}, "loss"), ({"steps": 0}, "steps"), ({"learning_rate": 0.0}, "learning_rate"),
                         ({"model": "m"}, "model"), ({"term": VPOTerm(calibration="column")}, "calibration")]:
        with pytest.raises(ValueError, match=name):
            OfflineConfig(**kwargs)
    for kwargs, name in [({"sign": 0}, "sign"), ({"calibration": "uniform"}, "calibration"), ({"alpha": -1.0}, "alpha")]:
        with pytest.raises(ValueError, match=name):
            VPOTerm(**kwargs)


@pytest.mark.slow  # long: the default run keeps a shorter check of the same path
def test_the_bridge_reaches_the_exact_tabular_policy():
    """End to end through what users run: TRL rows, VPOTrainer, TRL's fused head; TV to fit_vpo's policy ≤ 1e-4."""
    result = run_bridge(BridgeConfig(num_pairs=120, steps=220, eval_every=220))
    assert result["tv"][0] > 0.05
    assert result["tv"][-1] <= 1e-4, result["tv"]


def test_the_fitted_reference_is_cached_on_disk(tmp_path, monkeypatch):
    monkeypatch.setenv("VPO_CACHE_DIR", str(tmp_path))
    config = dataclasses.replace(SMALL, steps=1, reference_pretrain_steps=5)
    first = train_offline(config)["pi_ref"]
    assert len(list(tmp_path.glob("reference-*.pt"))) == 1
    second = train_offline(config)["pi_ref"]  # loaded, not refitted
    np.testing.assert_array_equal(first, second)
    assert np.abs(first - 1.0 / first.shape[1]).max() > 0.05  # non-uniform


def test_a_non_finite_loss_stops_the_run_naming_the_step(monkeypatch):
    import vpo_llm.trainers as trainers

    original, calls = trainers.calibration_term, {"n": 0}

    def poisoned(*args, **kwargs):
        calls["n"] += 1
        value = original(*args, **kwargs)
        return value * float("nan") if calls["n"] == 3 else value

    monkeypatch.setattr(trainers, "calibration_term", poisoned)
    with pytest.raises(FloatingPointError, match="non-finite .* at step 3"):
        train_offline(dataclasses.replace(SMALL, steps=6, eval_every=1))


@pytest.mark.slow  # ~30 s: three CLI processes. The default run keeps a real kill -9 (tests/test_reliability.py) and
# the trainers' resume-equals-uninterrupted checks
def test_kill_9_mid_run_then_resume_ends_where_an_uninterrupted_run_ends(tmp_path):
    """A real process killed with SIGKILL after a checkpoint; the rerun resumes and matches a clean run."""
    import os
    import sys

    from tests.processes import run_killed_and_clean

    args = ["--steps", "60", "--eval-every", "5", "--num-pairs", "64", "--batch-size", "8", "--dtype", "float64",
            "--no-progress"]
    env = os.environ | {"OMP_NUM_THREADS": "1"}
    command = [sys.executable, "-m", "vpo.cli", "llm", "offline", *args]
    clean, killed = tmp_path / "clean", tmp_path / "killed"
    checkpoints = lambda: sorted(int(p.name.split("-")[1]) for p in killed.glob("checkpoint-*"))  # noqa: E731
    run_killed_and_clean(command, env, clean, killed, lambda: bool(checkpoints()) and checkpoints()[-1] >= 10)
    steps = [json.loads(line)["step"] for line in (killed / "metrics.jsonl").read_text().splitlines()]
    assert steps == list(range(0, 61, 5))  # every evaluation exactly once
    final = lambda folder: json.loads((folder / "result.json").read_text())["final"]  # noqa: E731
    assert final(killed) == pytest.approx(final(clean), rel=1e-9)
