"""Online training (Algorithm 1 of theory §6 with the §5 loss) through OnlineVPOTrainer: on the built-in task (exact
regret), with judges of every kind, resume after kill -9, and a local Hugging Face model with a reward model."""

from __future__ import annotations

import dataclasses
import json
import os
import sys

import numpy as np
import pytest

pytest.importorskip("trl")

from vpo_llm.configs import OnlineConfig, TaskConfig  # noqa: E402
from vpo_llm.oracles import BradleyTerryOracle, CallableOracle, as_oracle  # noqa: E402
from vpo_llm.runs import train_online  # noqa: E402
from vpo_llm.task_trainers import response_index  # noqa: E402
from vpo_llm.tasks import EnumerableTask  # noqa: E402
from vpo_llm.term import VPOTerm  # noqa: E402

from tests.processes import run_killed_and_clean  # noqa: E402

SMALL = OnlineConfig(iterations=3, prompts_per_iteration=8, steps_per_iteration=2, batch_size=8,
                     ref_samples_per_prompt=4, reference_pretrain_steps=0, dtype="float64", progress=False,
                     task=TaskConfig(num_prompts=2, response_vocab=3, response_length=2))


# ----------------------------------------------------------------------------- oracles
def test_bradley_terry_oracle_frequency_matches_the_sigmoid():
    reward = np.array([[0.0, 1.0, -0.5]])
    oracle = BradleyTerryOracle(reward)
    rng = np.random.default_rng(0)
    n = 20000
    wins = oracle(np.zeros(n, int), np.ones(n, int), np.full(n, 2), rng)
    expected = 1 / (1 + np.exp(-1.5))
    assert abs(wins.mean() - expected) < 5 * np.sqrt(expected * (1 - expected) / n)
    assert BradleyTerryOracle(reward, sample=False)(np.zeros(3, int), np.array([0, 1, 2]), np.array([1, 2, 0]),
                                                    rng).tolist() == [False, True, False]


def test_callable_oracles_are_validated():
    oracle = as_oracle(lambda prompts, first, second: [len(a) < len(b) for a, b in zip(first, second)])
    assert oracle(["p", "p"], ["a", "abc"], ["ab", "a"], None).tolist() == [True, False]
    with pytest.raises(ValueError, match="one bool per pair"):
        CallableOracle(lambda p, a, b: [True])(["p", "p"], ["a", "b"], ["c", "d"], None)
    with pytest.raises(TypeError, match="oracle"):
        as_oracle(3)
    with pytest.raises(ValueError, match="reward"):
        BradleyTerryOracle(np.array([1.0, np.nan]))


# ----------------------------------------------------------------------------- the loop on the task
def test_the_buffer_grows_and_the_regret_is_the_cumulative_exact_suboptimality():
    result = train_online(SMALL)
    history = result["history"]
    assert [row["pairs"] for row in history] == [8, 16, 24]
    np.testing.assert_allclose(result["regret"], np.cumsum([row["suboptimality"] for row in history]))
    assert history[0]["suboptimality"] > 0 and result["final"]["iteration"] == 4
    fresh = train_online(dataclasses.replace(SMALL, accumulate=False))
    assert [row["pairs"] for row in fresh["history"]] == [8, 8, 8]


def test_a_deterministic_oracle_puts_the_better_response_first():
    task = EnumerableTask(SMALL.task)
    result = train_online(dataclasses.replace(SMALL, oracle_sample=False, scheme="policy-policy", iterations=2))
    prompts = {f"p{2 * x} p{2 * x + 1}": x for x in range(2)}
    for pair in result["pairs"]:
        x = prompts[pair["prompt"]]
        assert task.reward[x, response_index(task, pair["chosen"])] >= task.reward[x, response_index(task, pair["rejected"])]


@pytest.mark.slow  # long: the default run keeps a shorter check of the same path
def test_online_dpo_learns_on_the_task():
    """Online DPO with the trap reference lowers the exact SubOpt of its policy (fixed seed, CPU-deterministic)."""
    config = OnlineConfig(loss="dpo", iterations=12, reference_target="trap", seed=1, progress=False,
                          task=TaskConfig(num_prompts=2, response_vocab=4, response_length=2))
    result = train_online(config)
    assert result["final"]["suboptimality"] < 0.7 * result["history"][0]["suboptimality"]


def test_a_custom_judge_and_optimism_run():
    calls = []

    def judge(prompts, first, second):  # texts on the built-in task: prefer the lexically smaller response
        calls.append(len(first))
        return np.asarray(first) < np.asarray(second)

    config = dataclasses.replace(SMALL, term=VPOTerm(sign=1, alpha_scale=2.0, calibration="reference"))
    result = train_online(config, oracle=judge)
    assert calls == [8, 8, 8] and result["history"][-1]["alpha"] == pytest.approx(2.0 / np.sqrt(24))
    assert result["history"][-1]["loss/cal"] != 0.0


def test_bad_online_config_is_refused():
    for bad in ({"scheme": "policy-cal2"}, {"top_p": 0.0}, {"temperature": -1.0}, {"iterations": 0},
                {"prompts": "p.jsonl"}, {"model": "m"}, {"reference_target": "x"}, {"samples_per_prompt": 1},
                {"pair_selection": "best-only"}):
        with pytest.raises(ValueError, match=next(iter(bad)).split("_")[0]):
            OnlineConfig(**bad)
    with pytest.raises(ValueError, match="calibration"):
        OnlineConfig(term=VPOTerm(sign=1, calibration="column"))


@pytest.mark.slow  # ~30 s; so is its offline twin (tests/test_training.py)
def test_kill_9_mid_run_resumes_with_its_data_buffer(tmp_path):
    """A real process killed with SIGKILL after round 2; the rerun ends where a clean run ends."""
    args = ["--iterations", "6", "--prompts-per-iteration", "8", "--steps-per-iteration", "3", "--batch-size", "8",
            "--dtype", "float64", "--reference-pretrain-steps", "0", "--no-progress"]
    env = os.environ | {"OMP_NUM_THREADS": "1", "VPO_CACHE_DIR": str(tmp_path / "cache")}
    command = [sys.executable, "-m", "vpo.cli", "llm", "online", *args]
    clean, killed = tmp_path / "clean", tmp_path / "killed"
    run_killed_and_clean(command, env, clean, killed,
                         lambda: json.loads((killed / "online_state.json").read_text())["round"] >= 2)
    assert (killed / "pairs.jsonl").read_text() == (clean / "pairs.jsonl").read_text()
    results = [json.loads((folder / "result.json").read_text()) for folder in (clean, killed)]
    assert [row["iteration"] for row in results[1]["history"]] == list(range(1, 7))
    np.testing.assert_allclose(results[1]["regret"], results[0]["regret"], rtol=1e-9)


# ----------------------------------------------------------------------------- a local model
@pytest.fixture
def local_models(tmp_path):
    pytest.importorskip("tokenizers")
    from vpo_llm.models import save_tiny_model

    from .tiny_models import save_tiny_reward_model

    policy = tmp_path / "policy"
    tokenizer = save_tiny_model(policy)
    reward = save_tiny_reward_model(tmp_path / "reward", tokenizer)
    prompts = tmp_path / "prompts.jsonl"
    prompts.write_text("".join(json.dumps({"prompt": f"w{i} w{i + 1}"}) + "\n" for i in range(5)))
    return policy, reward, prompts


def test_local_model_with_a_reward_model_oracle(local_models, tmp_path):
    """A local model through OnlineVPOTrainer: the deterministic reward-model judge puts the higher-scoring text
    first, and the pairs come out in TRL's layout, ready for `vpo llm offline --dataset`."""
    from vpo_llm.data import load_preference_dataset
    from vpo_llm.oracles import RewardModelOracle

    policy, reward, prompts = local_models
    config = OnlineConfig(model=str(policy), prompts=str(prompts), reward_model=str(reward), iterations=2,
                          prompts_per_iteration=4, steps_per_iteration=2, batch_size=4, max_new_tokens=4,
                          oracle_sample=False, out_dir=str(tmp_path / "run"), progress=False)
    result = train_online(config)
    pairs = result["pairs"]
    assert len(pairs) == 8 and [row["pairs"] for row in result["history"]] == [4, 8]
    assert all(len(p[key].split()) <= 4 for p in pairs for key in ("chosen", "rejected"))
    oracle = RewardModelOracle(reward)
    texts = [p["prompt"] for p in pairs]
    scores = oracle.scores(texts, [p["chosen"] for p in pairs]) - oracle.scores(texts, [p["rejected"] for p in pairs])
    assert np.all(scores >= -1e-6)
    assert (tmp_path / "run" / "policy.pt").exists() and "loss/dpo" in result["history"][-1]
    rows = load_preference_dataset(tmp_path / "run" / "pairs.jsonl")
    assert len(rows) == 8 and rows["chosen"] == [p["chosen"] for p in pairs] and rows["prompt"] == texts


def test_prompts_from_a_datasets_dataset(local_models):
    datasets = pytest.importorskip("datasets")
    policy, _, _ = local_models
    rows = datasets.Dataset.from_dict({"prompt": ["w1 w2", "w3"]})
    config = OnlineConfig(model=str(policy), prompts=None, iterations=1, prompts_per_iteration=4,
                          steps_per_iteration=1, batch_size=4, max_new_tokens=3, progress=False)
    result = train_online(config, prompts=rows, oracle=lambda p, a, b: [len(x) <= len(y) for x, y in zip(a, b)])
    assert {p["prompt"] for p in result["pairs"]} <= {"w1 w2", "w3"} and len(result["pairs"]) == 4
    with pytest.raises(ValueError, match="prompt"):
        train_online(config, prompts=[{"text": "no prompt field"}])


def test_cli_online_with_a_local_model_and_on_the_task(local_models, tmp_path):
    from vpo.cli import main

    policy, reward, prompts = local_models
    out = tmp_path / "cli-local"
    assert main(["llm", "online", "--model", str(policy), "--prompts", str(prompts), "--reward-model", str(reward),
                 "--iterations", "2", "--prompts-per-iteration", "4", "--steps-per-iteration", "1", "--batch-size", "4",
                 "--max-new-tokens", "3", "--out-dir", str(out), "--no-progress"]) == 0
    record = json.loads((out / "result.json").read_text())
    assert [row["pairs"] for row in record["history"]] == [4, 8]
    assert json.loads((out / "online_state.json").read_text())["round"] == 2
    task_out = tmp_path / "cli-task"
    assert main(["llm", "online", "--iterations", "2", "--prompts-per-iteration", "4", "--steps-per-iteration", "1",
                 "--batch-size", "4", "--reference-pretrain-steps", "0", "--out-dir", str(task_out),
                 "--no-progress"]) == 0
    record = json.loads((task_out / "result.json").read_text())
    assert len(record["history"]) == 2 and len(record["regret"]) == 2 and record["provenance"]["git_commit"]
    for bad in (["--scheme", "both"], ["--model", str(tmp_path / "nowhere"), "--prompts", str(prompts)]):
        with pytest.raises(SystemExit) as exit_info:
            main(["llm", "online", "--out-dir", str(tmp_path / "x"), *bad])
        assert exit_info.value.code == 2
