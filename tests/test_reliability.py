"""Reliability: every config field and option refuses bad values by name, every command exits 2 on a bad flag, a
killed theory sweep resumes to the same records, and the same seed gives the same records (non-finite training
stops: tests/test_training.py)."""

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


from vpo_llm.configs import BridgeConfig, OfflineConfig, OnlineConfig, TaskConfig  # noqa: E402
from vpo_llm.runs import train_offline, train_online  # noqa: E402
from vpo_llm.term import VPOTerm  # noqa: E402

from tests.processes import kill_when, run_or_fail, start  # noqa: E402

NAN, INF = math.nan, math.inf
BAD = {  # category → values that must be refused
    "positive_int": [0, -1, 2.5, True, "3", None],
    "nonnegative_int": [-1, 1.5, "0", None],
    "positive": [0, 0.0, -1.0, NAN, INF, -INF, "1", True],
    "nonnegative": [-1e-9, -1.0, NAN, INF, "0", True],
    "choice": ["no-such-value", None, 3],
}
RUN = {"learning_rate": "positive", "batch_size": "positive_int", "grad_accumulation": "positive_int",
       "weight_decay": "nonnegative", "beta": "positive", "device": "choice", "dtype": "choice"}
# the contract of every public config: field → category (written from the docs, not from the code)
CONFIGS = {
    OfflineConfig: ({}, RUN | {
        "num_pairs": "positive_int", "steps": "positive_int", "eval_every": "positive_int",
        "reference_pretrain_steps": "nonnegative_int", "max_length": "positive_int", "lora_r": "nonnegative_int",
        "loss": "choice"}),
    OnlineConfig: ({}, RUN | {
        "iterations": "positive_int", "prompts_per_iteration": "positive_int", "steps_per_iteration": "positive_int",
        "ref_samples_per_prompt": "positive_int", "samples_per_prompt": "positive_int",
        "max_new_tokens": "nonnegative_int", "reference_pretrain_steps": "nonnegative_int", "temperature": "positive",
        "top_p": "positive", "loss": "choice", "scheme": "choice", "pair_selection": "choice",
        "reference_target": "choice"}),
    VPOTerm: ({}, {"sign": "choice", "alpha": "nonnegative", "alpha_scale": "nonnegative", "calibration": "choice",
                   "normalization": "choice", "reward_bound": "positive"}),
    TaskConfig: ({}, {
        "num_prompts": "positive_int", "prompt_length": "positive_int", "response_vocab": "positive_int",
        "response_length": "positive_int", "feature_dim": "positive_int", "reward_scale": "positive",
        "beta": "positive"}),
    BridgeConfig: ({}, {
        "num_prompts": "positive_int", "response_vocab": "positive_int", "num_pairs": "positive_int",
        "steps": "positive_int", "eval_every": "positive_int", "learning_rate": "positive"}),
}
CASES = [(cls, name, category) for cls, (_, fields) in CONFIGS.items() for name, category in fields.items()]


@settings(max_examples=300, deadline=None)
@given(case=st.sampled_from(CASES), data=st.data())
def test_every_config_field_refuses_bad_values_by_name(case, data):
    cls, name, category = case
    base, _ = CONFIGS[cls]
    value = data.draw(st.sampled_from(BAD[category]), label="value")
    if value is None and cls.__dataclass_fields__[name].default is None:  # None is the documented default
        return
    with pytest.raises((ValueError, TypeError)) as error:
        cls(**base, **{name: value})
    assert f"`{name}`" in str(error.value)


def test_every_config_field_is_in_the_contract():
    """A new field must be added to CONFIGS above (or it escapes the bad-input test)."""
    unchecked = {"seed", "out_dir", "resume", "progress", "task", "term", "model", "dataset", "prompts",
                 "reward_model", "accumulate", "oracle_sample", "eval_dataset", "bf16", "gradient_checkpointing"}
    for cls, (_, fields) in CONFIGS.items():
        missing = {f.name for f in dataclasses.fields(cls)} - set(fields) - unchecked
        assert not missing, f"{cls.__name__}: {sorted(missing)}"


def test_boolean_fields_refuse_text():
    for cls, name in ((OfflineConfig, "resume"), (OfflineConfig, "bf16"), (OfflineConfig, "gradient_checkpointing"),
                      (OnlineConfig, "accumulate"), (OnlineConfig, "oracle_sample"), (OnlineConfig, "progress")):
        with pytest.raises(TypeError, match=f"`{name}`"):
            cls(**{name: "false"})


THEORY_OPTIONS = {
    "online": (OnlineOptions, {"alpha": "nonnegative", "alpha_scale": "nonnegative", "bound": "positive",
                               "bound_scale": "positive", "c_gamma": "nonnegative", "delta": "positive",
                               "restart_every": "nonnegative_int", "scheme": "choice", "alpha_schedule": "choice",
                               "calibration": "choice", "optimistic_method": "choice", "max_cells": "positive_int",
                               "step_seconds": "positive", "xpo_scale": "nonnegative", "selm_scale": "nonnegative",
                               "ts_scale": "nonnegative", "mixed_fraction": "positive"}),
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


#: command → flags it must refuse (exit status 2 and a message, no traceback)
BAD_FLAGS = {
    "repro": ["no-such-figure", "--backend dask", "--jobs 0"],  # dask without a scheduler
    "theory offline": ["--N 0", "--instance nope", "--alpha-scale nan"],
    "theory online": ["--T 0", "--c-gamma -1", "--backend dask"],
    "llm offline": ["--steps 0", "--learning-rate inf", "--model /no/such/folder --dataset /no/such.jsonl"],
    "llm online": ["--iterations 0", "--temperature nan", "--accumulate maybe", "--top-p 1.5"],
    "bench": ["--no-such-flag", "--record --quick"],
}


@pytest.mark.parametrize("argv", [f"{command} {flags}".split() for command, cases in BAD_FLAGS.items()
                                  for flags in cases])
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
    import vpo_llm.runs
    import vpo_theory.offline

    def computed(*args, **kwargs):
        raise AssertionError("computed before checking the output")

    monkeypatch.setattr(paper_repro.registry, "run_figures", computed)
    monkeypatch.setattr(vpo_theory.offline, "run_offline", computed)
    monkeypatch.setattr(vpo_llm.runs, "train_offline", computed)
    with pytest.raises(SystemExit) as exit_info:
        main([part.replace("{bad}", bad) for part in argv])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert ("--out-dir" if argv[0] == "llm" else "--out") in err and "cannot write there" in err
    assert "Traceback" not in err


def test_a_failing_subprocess_fails_the_test_with_its_stderr():
    """The helper every subprocess test uses: the report names the exit status and shows the traceback's tail."""
    command = [sys.executable, "-c", "import sys; print('progress'); sys.stderr.write('Traceback: boom'); sys.exit(3)"]
    with pytest.raises(pytest.fail.Exception, match="exited 3; its stderr ends:\nTraceback: boom"):
        run_or_fail(command, dict(os.environ))
    assert run_or_fail([sys.executable, "-c", "print('done')"], dict(os.environ)).stdout == "done\n"


# ----------------------------------------------------------------------------- kill a theory sweep
@pytest.mark.slow  # ~15 s: three sweeps in subprocesses (test_records checks a terminated sweep in the default run)
@pytest.mark.parametrize("how", [signal.SIGTERM, signal.SIGKILL])
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
@pytest.mark.slow  # ~15 s: two runs of each kind
def test_same_seed_same_records_theory_and_llm():
    instance = vt.make_instance("linear-d8", 0)
    first, second = (vt.run_online(instance, "vpo", 40, 3).to_record() for _ in range(2))
    np.testing.assert_array_equal(first["regret"], second["regret"])
    offline = [vt.run_offline(instance, "vpo", 200, 3).suboptimality for _ in range(2)]
    assert offline[0] == offline[1]
    task = TaskConfig(num_prompts=2, response_vocab=3, response_length=2)
    offline = OfflineConfig(num_pairs=32, steps=4, eval_every=2, batch_size=8, dtype="float64", task=task, progress=False)
    runs = [train_offline(offline)["history"] for _ in range(2)]
    assert runs[0] == runs[1]
    config = OnlineConfig(iterations=2, prompts_per_iteration=4, steps_per_iteration=2, batch_size=4,
                          reference_pretrain_steps=0, task=task, progress=False)
    timing = ("collect_seconds", "fit_seconds")  # wall times are not part of the determinism
    online = [[{k: v for k, v in row.items() if k not in timing} for row in train_online(config)["history"]]
              for _ in range(2)]
    assert online[0] == online[1]


def test_every_number_field_of_the_llm_configs_declares_its_rule():
    """A count or a real without a rule would take -1 or NaN silently: each int/float field of the LLM configs carries
    its ``check`` (``vpo_llm.fields``), and the rule refuses a bad value by the field's name."""
    import dataclasses

    from vpo_llm.configs import BridgeConfig, OfflineConfig, OnlineConfig, TaskConfig

    unchecked = []
    for config_class in (TaskConfig, OfflineConfig, OnlineConfig, BridgeConfig):
        for item in dataclasses.fields(config_class):
            kind = str(item.type).split(" |")[0]
            if kind in ("int", "float") and "check" not in item.metadata:
                unchecked.append(f"{config_class.__name__}.{item.name}")
            elif kind == "int":
                with pytest.raises(ValueError, match=item.name):
                    config_class(**{item.name: -1})
    assert not unchecked, "fields without a rule: " + ", ".join(unchecked)
