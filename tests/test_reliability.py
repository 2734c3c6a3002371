"""Reliability (issue #9): every config field and option refuses bad values by name, every command exits 2
on a bad flag, non-finite losses stop (or skip) without touching the checkpoint, a killed theory sweep
resumes to the same records, and the same seed gives the same records."""

from __future__ import annotations

import dataclasses
import json
import math
import os
import signal
import sys

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import vpo_theory as vt
from vpo_theory.offline import OfflineOptions
from vpo_theory.online import OnlineOptions

pytest.importorskip("transformers")
pytest.importorskip("accelerate")

import torch  # noqa: E402

from vpo_llm.bridge import BridgeConfig  # noqa: E402
from vpo_llm.online import OnlineConfig, train_online  # noqa: E402
from vpo_llm.tasks import TaskConfig  # noqa: E402
from vpo_llm.training import DatasetConfig, OfflineConfig, train_offline  # noqa: E402

from tests.processes import kill_when, run_or_fail, start  # noqa: E402

NAN, INF = math.nan, math.inf
BAD = {  # category → values that must be refused
    "positive_int": [0, -1, 2.5, True, "3", None],
    "nonnegative_int": [-1, 1.5, "0", None],
    "positive": [0, 0.0, -1.0, NAN, INF, -INF, "1", True],
    "nonnegative": [-1e-9, -1.0, NAN, INF, "0", True],
    "choice": ["no-such-value", None, 3],
}
# the contract of every public config: field → category (written from the docs, not from the code)
CONFIGS = {
    OfflineConfig: ({}, {
        "num_pairs": "positive_int", "steps": "positive_int", "batch_size": "positive_int",
        "grad_accumulation": "positive_int", "eval_every": "positive_int", "ref_samples_per_prompt": "positive_int",
        "reference_pretrain_steps": "nonnegative_int", "learning_rate": "positive", "beta": "positive",
        "alpha_scale": "nonnegative", "weight_decay": "nonnegative", "loss": "choice", "sign": "choice",
        "calibration": "choice", "cal_normalization": "choice", "dtype": "choice"}),
    OnlineConfig: ({}, {
        "iterations": "positive_int", "prompts_per_iteration": "positive_int", "steps_per_iteration": "positive_int",
        "batch_size": "positive_int", "grad_accumulation": "positive_int", "cal_samples_per_pair": "positive_int",
        "ref_samples_per_prompt": "positive_int", "max_new_tokens": "nonnegative_int",
        "reference_pretrain_steps": "nonnegative_int", "learning_rate": "positive", "temperature": "positive",
        "top_p": "positive", "beta": "positive", "alpha_scale": "nonnegative", "weight_decay": "nonnegative",
        "loss": "choice", "sign": "choice", "alpha_schedule": "choice", "scheme": "choice", "calibration": "choice",
        "reference_target": "choice", "dtype": "choice"}),
    DatasetConfig: ({"model": "m", "dataset": "d.jsonl"}, {
        "steps": "positive_int", "batch_size": "positive_int", "grad_accumulation": "positive_int",
        "eval_every": "positive_int", "max_length": "positive_int", "beta": "positive", "learning_rate": "positive",
        "alpha_scale": "nonnegative", "weight_decay": "nonnegative", "loss": "choice", "sign": "choice",
        "calibration": "choice", "cal_normalization": "choice", "lora_r": "nonnegative_int"}),
    TaskConfig: ({}, {
        "num_prompts": "positive_int", "prompt_length": "positive_int", "response_vocab": "positive_int",
        "response_length": "positive_int", "feature_dim": "positive_int", "reward_scale": "positive",
        "beta": "positive"}),
    BridgeConfig: ({}, {
        "num_prompts": "positive_int", "response_vocab": "positive_int", "num_pairs": "positive_int",
        "steps": "positive_int", "eval_every": "positive_int", "learning_rate": "positive",
        "alpha_scale": "nonnegative", "sign": "choice"}),
}
CASES = [(cls, name, category) for cls, (_, fields) in CONFIGS.items() for name, category in fields.items()]


@settings(max_examples=300, deadline=None)
@given(case=st.sampled_from(CASES), data=st.data())
def test_every_config_field_refuses_bad_values_by_name(case, data):
    cls, name, category = case
    base, _ = CONFIGS[cls]
    value = data.draw(st.sampled_from(BAD[category]), label="value")
    if name == "beta" and value is None:  # None is the documented "use the task's β"
        return
    with pytest.raises((ValueError, TypeError)) as error:
        cls(**base, **{name: value})
    assert f"`{name}`" in str(error.value)


def test_every_config_field_is_in_the_contract():
    """A new field must be added to CONFIGS above (or it escapes the bad-input test)."""
    unchecked = {"seed", "device", "out_dir", "resume", "task", "model", "dataset", "prompts", "reward_model",
                 "accumulate", "oracle_sample", "skip_nonfinite", "eval_dataset", "bf16", "gradient_checkpointing"}
    for cls, (_, fields) in CONFIGS.items():
        missing = {f.name for f in dataclasses.fields(cls)} - set(fields) - unchecked
        assert not missing, f"{cls.__name__}: {sorted(missing)}"


def test_boolean_fields_refuse_text():
    for cls, base, name in ((OfflineConfig, {}, "skip_nonfinite"), (OnlineConfig, {}, "accumulate"),
                            (OnlineConfig, {}, "oracle_sample"), (DatasetConfig, {"model": "m", "dataset": "d"}, "resume"),
                            (DatasetConfig, {"model": "m", "dataset": "d"}, "bf16"),
                            (DatasetConfig, {"model": "m", "dataset": "d"}, "gradient_checkpointing")):
        with pytest.raises(TypeError, match=f"`{name}`"):
            cls(**base, **{name: "false"})


THEORY_OPTIONS = {
    "online": (OnlineOptions, {"alpha": "nonnegative", "alpha_scale": "nonnegative", "bound": "positive",
                               "bound_scale": "positive", "c_gamma": "nonnegative", "delta": "positive",
                               "restart_every": "nonnegative_int", "scheme": "choice", "alpha_schedule": "choice",
                               "calibration": "choice", "optimistic_method": "choice", "max_cells": "positive_int"}),
    "offline": (OfflineOptions, {"alpha": "nonnegative", "alpha_scale": "nonnegative", "bound": "positive",
                                 "bound_scale": "positive", "c_gamma": "nonnegative", "ridge": "nonnegative",
                                 "delta": "positive", "calibration": "choice", "behavior": "choice"}),
}


@settings(max_examples=150, deadline=None)
@given(kind=st.sampled_from(sorted(THEORY_OPTIONS)), data=st.data())
def test_every_theory_option_refuses_bad_values_by_name(kind, data):
    cls, fields = THEORY_OPTIONS[kind]
    name = data.draw(st.sampled_from(sorted(fields)), label="option")
    bad = [v for v in BAD[fields[name]] if v is not None]  # None means "the default" for these options
    value = data.draw(st.sampled_from(bad), label="value")
    instance = vt.make_instance("tabular-small", 0)
    with pytest.raises((ValueError, TypeError)) as error:
        if kind == "online":
            vt.run_online(instance, "vpo", 3, 0, **{name: value})
        else:
            vt.run_offline(instance, "vpo", 20, 0, **{name: value})
    assert f"`{name}`" in str(error.value)


def test_theory_entry_points_refuse_unknown_names():
    instance = vt.make_instance("tabular-small", 0)
    for call, argument in ((lambda: vt.make_instance("no-such-instance"), "name"),
                           (lambda: vt.run_online(instance, "thompson", 3, 0), "algorithm"),
                           (lambda: vt.run_online(instance, "vpo", 0, 0), "T"),
                           (lambda: vt.run_online(instance, "vpo", 3, 0, temperature=1.0), "option"),
                           (lambda: vt.run_offline(instance, "dpo", 10, 0), "algorithm"),
                           (lambda: vt.run_offline(instance, "vpo", 0, 0), "N")):
        with pytest.raises((ValueError, TypeError)) as error:
            call()
        assert argument in str(error.value)


@pytest.mark.parametrize("argv", [
    ["repro", "no-such-figure"],
    ["repro", "--backend", "dask"],  # no scheduler
    ["repro", "--jobs", "0"],
    ["theory", "offline", "--N", "0"],
    ["theory", "offline", "--instance", "nope"],
    ["theory", "offline", "--alpha-scale", "nan"],
    ["theory", "online", "--T", "0"],
    ["theory", "online", "--c-gamma", "-1"],
    ["theory", "online", "--backend", "dask"],
    ["llm", "offline", "--steps", "0"],
    ["llm", "offline", "--learning-rate", "inf"],
    ["llm", "offline", "--model", "/no/such/folder", "--dataset", "/no/such.jsonl"],
    ["llm", "online", "--iterations", "0"],
    ["llm", "online", "--temperature", "nan"],
    ["llm", "online", "--accumulate", "maybe"],
    ["bench", "--no-such-flag"],
])
def test_every_command_exits_2_on_bad_flags(argv, tmp_path, capsys):
    from vpo.cli import main

    with pytest.raises(SystemExit) as exit_info:
        main(argv + (["--out-dir", str(tmp_path / "x")] if argv[0] == "llm" else []))
    assert exit_info.value.code == 2
    assert "error" in capsys.readouterr().err


@pytest.mark.parametrize("argv", [
    ["repro", "geometry", "--force", "--out", "{bad}"],
    ["theory", "offline", "--N", "10", "--seeds", "0", "--out", "{bad}/run.json"],
    ["theory", "online", "--T", "5", "--seeds", "0", "--out", "{bad}/run.json"],
    ["llm", "offline", "--steps", "1", "--out-dir", "{bad}"],
    ["llm", "online", "--iterations", "1", "--out-dir", "{bad}"],
])
def test_an_unwritable_output_is_refused_before_any_computing(argv, tmp_path, capsys, monkeypatch):
    """Exit 2 naming the flag, no traceback, and nothing computed (the runners are never called)."""
    from vpo.cli import main

    blocker = tmp_path / "a-file"
    blocker.write_text("")  # a folder cannot be made inside a file
    bad = str(blocker / "out")
    import paper_repro.registry
    import vpo_llm.training
    import vpo_theory.offline

    def computed(*args, **kwargs):
        raise AssertionError("computed before checking the output")

    monkeypatch.setattr(paper_repro.registry, "run_figures", computed)
    monkeypatch.setattr(vpo_theory.offline, "run_offline", computed)
    monkeypatch.setattr(vpo_llm.training, "train_offline", computed)
    with pytest.raises(SystemExit) as exit_info:
        main([part.replace("{bad}", bad) for part in argv])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert ("--out-dir" if argv[0] == "llm" else "--out") in err and "cannot write there" in err
    assert "Traceback" not in err


# ----------------------------------------------------------------------------- non-finite guards
SMALL = OfflineConfig(num_pairs=32, steps=6, eval_every=2, batch_size=8, dtype="float64",
                      task=TaskConfig(num_prompts=2, response_vocab=3, response_length=2))


def _poison_step(monkeypatch, bad_steps):
    """Make the loss NaN on the given optimizer steps (1-based), counting batch_loss calls."""
    import vpo_llm.training as training

    original, calls = training.task_batch_loss, {"n": 0}

    def poisoned(*args, **kwargs):
        calls["n"] += 1
        loss, metrics = original(*args, **kwargs)
        return (loss * math.nan, metrics) if calls["n"] in bad_steps else (loss, metrics)

    monkeypatch.setattr(training, "task_batch_loss", poisoned)
    return calls


def test_nonfinite_loss_stops_with_step_and_items_and_keeps_the_checkpoint(monkeypatch, tmp_path):
    out = tmp_path / "run"
    # batch_loss calls in order: eval@0, step 1, step 2, eval@2, step 3, step 4, ... → call 6 is step 4
    _poison_step(monkeypatch, {6})
    with pytest.raises(FloatingPointError, match=r"at step 4 \(items \[") as error:
        train_offline(dataclasses.replace(SMALL, out_dir=str(out)), progress=False)
    assert "checkpoint is intact" in str(error.value)
    state = torch.load(out / "checkpoint.pt", weights_only=False)  # the evaluation at step 2 wrote it
    assert state["step"] == 2 and all(torch.isfinite(v).all() for v in state["model"].values())


def test_skip_nonfinite_skips_and_counts(monkeypatch):
    _poison_step(monkeypatch, {2, 6})
    result = train_offline(dataclasses.replace(SMALL, skip_nonfinite=True), progress=False)
    assert result["final"]["skipped_steps"] == 2 and math.isfinite(result["final"]["loss/full"])


def test_nonfinite_gradient_is_caught_too(monkeypatch):
    """A finite loss whose gradient is not finite (an inf parameter-gradient hook) stops the run."""
    import vpo_llm.training as training

    original = training.tiny_causal_lm

    def with_bad_gradient(*args, **kwargs):
        model = original(*args, **kwargs)
        next(model.parameters()).register_hook(lambda grad: grad * math.inf)
        return model

    monkeypatch.setattr(training, "tiny_causal_lm", with_bad_gradient)
    with pytest.raises(FloatingPointError, match="non-finite gradient at step 1"):
        train_offline(SMALL, progress=False)


def test_a_failing_subprocess_fails_the_test_with_its_stderr():
    """The helper every subprocess test uses: the report names the exit status and shows the traceback's tail."""
    command = [sys.executable, "-c", "import sys; print('progress'); sys.stderr.write('Traceback: boom'); sys.exit(3)"]
    with pytest.raises(pytest.fail.Exception, match="exited 3; its stderr ends:\nTraceback: boom"):
        run_or_fail(command, dict(os.environ))
    assert run_or_fail([sys.executable, "-c", "print('done')"], dict(os.environ)).stdout == "done\n"


# ----------------------------------------------------------------------------- kill a theory sweep
@pytest.mark.parametrize("how", [pytest.param(signal.SIGTERM, marks=pytest.mark.slow), signal.SIGKILL])
def test_killed_theory_sweep_resumes_to_the_same_records(tmp_path, how):
    env = os.environ | {"OMP_NUM_THREADS": "1"}
    # the sweep's kill-and-resume mechanics are under test, not the solver: the fast local step keeps each seed short
    args = [sys.executable, "-m", "vpo.cli", "theory", "online", "--instance", "tabular-small", "--algorithm", "vpo",
            "--optimistic-method", "local", "--T", "120", "--seeds", *map(str, range(8))]
    clean, killed = tmp_path / "clean" / "run.json", tmp_path / "killed" / "run.json"
    run_or_fail([*args, "--out", str(clean)], env)
    cells = killed.parent / ".cells"
    process = start([*args, "--out", str(killed)], env)
    kill_when(process, lambda: len(list(cells.glob("*.json"))) >= 2, how=how)  # the driver and its joblib workers
    finished = len(list(cells.glob("*.json")))
    assert 2 <= finished < 8 and not killed.exists()  # (a SIGKILL mid-write may leave a temporary file behind)
    run_or_fail([*args, "--out", str(killed)], env)
    assert not list(cells.glob(".*"))  # the resumed run swept any, and left none of its own
    a, b = json.loads(clean.read_text())["results"], json.loads(killed.read_text())["results"]
    assert a == b


# ----------------------------------------------------------------------------- determinism
def test_same_seed_same_records_theory_and_llm():
    instance = vt.make_instance("linear-d8", 0)
    first, second = (vt.run_online(instance, "vpo", 40, 3).to_record() for _ in range(2))
    np.testing.assert_array_equal(first["regret"], second["regret"])
    offline = [vt.run_offline(instance, "vpo", 200, 3).suboptimality for _ in range(2)]
    assert offline[0] == offline[1]
    runs = [train_offline(SMALL, progress=False)["history"] for _ in range(2)]
    assert runs[0] == runs[1]
    config = OnlineConfig(iterations=2, prompts_per_iteration=4, steps_per_iteration=2, batch_size=4,
                          reference_pretrain_steps=0, task=SMALL.task)
    online = [train_online(config, progress=False)["history"] for _ in range(2)]
    assert online[0] == online[1]
