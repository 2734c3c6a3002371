"""The online LLM trainer (Algorithm 1 of theory §6 with the §5 loss): sampling, oracles, the reference
cache, the data buffer, resume after kill -9, and a local Hugging Face model with a reward model."""

from __future__ import annotations

import dataclasses
import json
import os
import sys

import numpy as np
import pytest
import torch

pytest.importorskip("transformers")
pytest.importorskip("accelerate")

from vpo_llm.environments import TaskEnvironment, filter_top_p  # noqa: E402
from vpo_llm.models import TinyLMConfig, tiny_causal_lm  # noqa: E402
from vpo_llm.online import OnlineConfig, ReferenceSampleCache, train_online  # noqa: E402
from vpo_llm.oracles import BradleyTerryOracle, CallableOracle, as_oracle  # noqa: E402
from vpo_llm.tasks import EnumerableTask, TaskConfig  # noqa: E402

from tests.processes import run_killed_and_clean  # noqa: E402

SMALL = OnlineConfig(iterations=3, prompts_per_iteration=8, steps_per_iteration=2, batch_size=8,
                     ref_samples_per_prompt=4, reference_pretrain_steps=0, dtype="float64",
                     task=TaskConfig(num_prompts=2, response_vocab=3, response_length=2))


def _task_and_model(seed=0):
    task = EnumerableTask(TaskConfig(num_prompts=2, response_vocab=3, response_length=2, seed=seed))
    model = tiny_causal_lm(TinyLMConfig(vocab_size=task.config.vocab_size, seed=seed), dtype=torch.float64)
    return task, model


# ----------------------------------------------------------------------------- sampling
def test_top_p_filter_matches_a_loop():
    generator = torch.Generator().manual_seed(0)
    probs = torch.softmax(torch.randn(6, 7, generator=generator, dtype=torch.float64), dim=-1)
    for top_p in (0.1, 0.5, 0.9, 1.0):
        got = filter_top_p(probs, top_p)
        for row, out in zip(probs, got):
            order = sorted(range(len(row)), key=lambda i: -float(row[i]))
            kept, mass = [], 0.0
            for i in order:  # keep tokens until the mass before them reaches top_p
                if mass < top_p:
                    kept.append(i)
                mass += float(row[i])
            expected = torch.zeros_like(row)
            expected[kept] = row[kept] / row[kept].sum()
            torch.testing.assert_close(out, expected)


def test_task_sampling_draws_from_the_exact_policy():
    """Frequencies of 6000 autoregressive samples against the enumerated policy table (5 standard errors)."""
    task, model = _task_and_model()
    environment = TaskEnvironment(task, task.policy_table(model))
    prompts = torch.zeros(6000, dtype=torch.long)
    responses = environment.sample(model, prompts, temperature=1.0, top_p=1.0, seed=3)
    frequency = np.bincount(environment.response_index(responses), minlength=task.num_responses) / len(prompts)
    pi = task.policy_table(model)[0]
    standard_error = np.sqrt(pi * (1 - pi) / len(prompts))
    assert np.all(np.abs(frequency - pi) < 5 * standard_error + 1e-12)
    # a tiny nucleus keeps only the most likely token at each position: one response, always
    greedy = environment.sample(model, prompts[:50], temperature=1.0, top_p=1e-6, seed=4)
    assert len(set(environment.response_index(greedy).tolist())) == 1
    # log-probs of sampled responses are the table's entries
    logps = environment.logps(model, prompts[:20], responses[:20])
    table = task.policy_logps(model)[0, environment.response_index(responses[:20])]
    torch.testing.assert_close(logps, table.detach())


# ----------------------------------------------------------------------------- oracles
def test_bradley_terry_oracle_frequency_matches_the_sigmoid():
    reward = np.array([[0.0, 1.0, -0.5]])
    oracle = BradleyTerryOracle(reward)
    rng = np.random.default_rng(0)
    n = 20000
    wins = oracle(np.zeros(n, int), np.ones(n, int), np.full(n, 2), rng)
    expected = 1 / (1 + np.exp(-1.5))
    assert abs(wins.mean() - expected) < 5 * np.sqrt(expected * (1 - expected) / n)
    assert BradleyTerryOracle(reward, sample=False)(np.zeros(3, int), np.array([0, 1, 2]), np.array([1, 2, 0]), rng).tolist() \
        == [False, True, False]


def test_callable_oracles_are_validated():
    oracle = as_oracle(lambda prompts, first, second: [len(a) < len(b) for a, b in zip(first, second)])
    assert oracle(["p", "p"], ["a", "abc"], ["ab", "a"], None).tolist() == [True, False]
    with pytest.raises(ValueError, match="one bool per pair"):
        CallableOracle(lambda p, a, b: [True])(["p", "p"], ["a", "b"], ["c", "d"], None)
    with pytest.raises(TypeError, match="oracle"):
        as_oracle(3)
    with pytest.raises(ValueError, match="reward"):
        BradleyTerryOracle(np.array([1.0, np.nan]))


# ----------------------------------------------------------------------------- reference cache
def test_reference_cache_generates_once_per_prompt_and_stores_exact_logps():
    task, model = _task_and_model()
    environment = TaskEnvironment(task, task.policy_table(model))
    cache = ReferenceSampleCache(environment, model, per_prompt=5, seed=1)
    for _ in range(4):
        responses, logps = cache.draw(torch.tensor([0, 1, 1, 0]), torch.tensor([0, 4, 2, 3]))
    assert cache.generated == 10  # 2 prompts × 5, whatever the number of draws
    table = task.policy_logps(model).detach()
    index = environment.response_index(responses)
    torch.testing.assert_close(logps, table[[0, 1, 1, 0], index])
    again = ReferenceSampleCache(environment, model, per_prompt=5, seed=1)
    again.pool(1)  # order of first use does not change a pool
    assert all(torch.equal(a, b) for a, b in zip(again.pool(1)[0], cache.pool(1)[0]))


# ----------------------------------------------------------------------------- the loop
def test_buffer_grows_by_the_new_pairs_and_regret_is_cumulative_suboptimality():
    result = train_online(SMALL, progress=False)
    history = result["history"]
    assert [row["pairs"] for row in history] == [8, 16, 24]
    np.testing.assert_allclose(result["regret"], np.cumsum([row["suboptimality"] for row in history]))
    assert result["reference_cache"].generated == 2 * 4  # two prompts, pools generated once
    fresh = train_online(dataclasses.replace(SMALL, accumulate=False), progress=False)
    assert [row["pairs"] for row in fresh["history"]] == [8, 8, 8]
    # chosen/rejected follow the oracle: with a deterministic oracle, every chosen has the larger r*
    deterministic = train_online(dataclasses.replace(SMALL, oracle_sample=False, scheme="policy-policy"), progress=False)
    task = EnumerableTask(SMALL.task)
    environment = TaskEnvironment(task, np.full((2, 9), 1 / 9))
    buffer = deterministic["buffer"]
    x = np.asarray(buffer["prompt"])
    chosen, rejected = environment.response_index(buffer["chosen"]), environment.response_index(buffer["rejected"])
    assert np.all(task.reward[x, chosen] >= task.reward[x, rejected])


def test_online_dpo_learns_on_the_task():
    """Online DPO with the trap reference lowers the exact SubOpt of its policy (fixed seed, CPU-deterministic)."""
    config = OnlineConfig(loss="dpo", iterations=12, reference_target="trap", seed=1,
                          task=TaskConfig(num_prompts=2, response_vocab=4, response_length=2))
    result = train_online(config, progress=False)
    assert result["final"]["suboptimality"] < 0.7 * result["history"][0]["suboptimality"]


def test_a_custom_judge_and_optimism_run():
    calls = []

    def judge(prompts, first, second):  # indices on the built-in task: prefer the lower response index
        calls.append(len(first))
        return np.asarray(first) < np.asarray(second)

    result = train_online(dataclasses.replace(SMALL, loss="vpo", alpha_scale=2.0), oracle=judge, progress=False)
    assert calls == [8, 8, 8] and result["history"][-1]["alpha/mean"] == pytest.approx(2.0 / np.sqrt(24))
    assert result["history"][-1]["loss/cal"] != 0.0


def test_bad_online_config_is_refused():
    for bad in ({"scheme": "policy-cal2"}, {"top_p": 0.0}, {"temperature": -1.0}, {"iterations": 0},
                {"sign": 0}, {"prompts": "p.jsonl"}, {"model": "m"}, {"reference_target": "x"}):
        with pytest.raises(ValueError, match=next(iter(bad)).split("_")[0]):
            OnlineConfig(**bad)


@pytest.mark.slow  # ~24 s; so is its offline twin (tests/test_training.py)
def test_kill_9_mid_run_resumes_with_its_data_buffer(tmp_path):
    """A real process killed with SIGKILL after iteration 2; the rerun ends where a clean run ends."""
    args = ["--iterations", "8", "--prompts-per-iteration", "8", "--steps-per-iteration", "3", "--batch-size", "8",
            "--dtype", "float64", "--reference-pretrain-steps", "0"]
    env = os.environ | {"OMP_NUM_THREADS": "1", "VPO_CACHE_DIR": str(tmp_path / "cache")}
    command = [sys.executable, "-m", "vpo.cli", "llm", "online", *args]
    clean, killed = tmp_path / "clean", tmp_path / "killed"
    interrupted, final_clean, final_resumed, _ = run_killed_and_clean(
        command, env, clean, killed, lambda: len((killed / "metrics.jsonl").read_text().splitlines()) >= 2)
    assert 2 <= interrupted["iteration"] < 8 and len(interrupted["buffer"]["prompt"]) == 8 * interrupted["iteration"]
    assert final_resumed["buffer"]["prompt"] == final_clean["buffer"]["prompt"]
    assert all(torch.equal(a, b) for a, b in zip(final_resumed["buffer"]["chosen"], final_clean["buffer"]["chosen"]))
    iterations = [json.loads(line)["iteration"] for line in (killed / "metrics.jsonl").read_text().splitlines()]
    assert iterations == list(range(1, 9))


# ----------------------------------------------------------------------------- a local model
@pytest.fixture
def local_models(tmp_path):
    pytest.importorskip("tokenizers")
    from transformers import LlamaConfig, LlamaForSequenceClassification

    from vpo_llm.models import save_tiny_model

    policy = tmp_path / "policy"
    tokenizer = save_tiny_model(policy)
    words = range(len(tokenizer))
    reward = tmp_path / "reward"
    torch.manual_seed(0)
    LlamaForSequenceClassification(LlamaConfig(vocab_size=len(words), hidden_size=16, intermediate_size=32,
                                               num_hidden_layers=1, num_attention_heads=2, num_key_value_heads=1,
                                               num_labels=1, pad_token_id=0)).save_pretrained(reward)
    tokenizer.save_pretrained(reward)
    prompts = tmp_path / "prompts.jsonl"
    prompts.write_text("".join(json.dumps({"prompt": f"w{i} w{i + 1}"}) + "\n" for i in range(5)))
    return policy, reward, prompts


def test_local_model_with_a_reward_model_oracle(local_models, tmp_path):
    """A local model runs through OnlineVPOTrainer: the deterministic reward-model judge puts the higher-scoring
    text first, and the pairs come out in TRL's layout."""
    from vpo_llm.data import load_preference_dataset
    from vpo_llm.oracles import RewardModelOracle

    policy, reward, prompts = local_models
    config = OnlineConfig(model=str(policy), prompts=str(prompts), reward_model=str(reward), iterations=2,
                          prompts_per_iteration=4, steps_per_iteration=2, batch_size=4, max_new_tokens=4,
                          oracle_sample=False, out_dir=str(tmp_path / "run"))
    result = train_online(config, progress=False)
    pairs = result["pairs"]
    assert len(pairs) == 8 and [row["pairs"] for row in result["history"]] == [4, 8]
    assert all(1 <= len(p[key].split()) <= 4 for p in pairs for key in ("chosen", "rejected"))
    oracle = RewardModelOracle(reward)
    texts = [p["prompt"] for p in pairs]
    scores = oracle.scores(texts, [p["chosen"] for p in pairs]) - oracle.scores(texts, [p["rejected"] for p in pairs])
    assert np.all(scores >= -1e-6)
    assert (tmp_path / "run" / "policy.pt").exists() and "loss/dpo" in result["history"][-1]
    rows = load_preference_dataset(tmp_path / "run" / "pairs.jsonl")
    assert len(rows) == 8 and rows["chosen"] == [p["chosen"] for p in pairs] and rows["prompt"] == texts


def test_prompts_from_a_datasets_dataset(local_models, tmp_path):
    datasets = pytest.importorskip("datasets")
    policy, _, _ = local_models
    rows = datasets.Dataset.from_dict({"prompt": ["w1 w2", "w3"]})
    config = OnlineConfig(model=str(policy), prompts=None, iterations=1, prompts_per_iteration=4,
                          steps_per_iteration=1, batch_size=4, max_new_tokens=3)
    result = train_online(config, prompts=rows, oracle=lambda p, a, b: [len(x) <= len(y) for x, y in zip(a, b)],
                          progress=False)
    assert {p["prompt"] for p in result["pairs"]} <= {"w1 w2", "w3"} and len(result["pairs"]) == 4
    with pytest.raises(ValueError, match="prompt"):
        train_online(config, prompts=[{"text": "no prompt field"}], progress=False)
    with pytest.raises(ValueError, match="alpha_schedule"):
        train_online(dataclasses.replace(config, alpha_schedule="constant"), prompts=rows, progress=False)


def test_cli_online_with_a_local_model_runs_the_trl_trainer(local_models, tmp_path):
    from vpo.cli import main

    policy, reward, prompts = local_models
    out = tmp_path / "cli-local"
    assert main(["llm", "online", "--model", str(policy), "--prompts", str(prompts), "--reward-model", str(reward),
                 "--iterations", "2", "--prompts-per-iteration", "4", "--steps-per-iteration", "1", "--batch-size", "4",
                 "--max-new-tokens", "3", "--out-dir", str(out)]) == 0
    record = json.loads((out / "result.json").read_text())
    assert [row["pairs"] for row in record["history"]] == [4, 8]
    assert json.loads((out / "online_state.json").read_text())["round"] == 2


def test_cli_online_on_the_task_and_refusals(tmp_path):
    from vpo.cli import main

    out = tmp_path / "cli"
    assert main(["llm", "online", "--iterations", "2", "--prompts-per-iteration", "4", "--steps-per-iteration", "1",
                 "--batch-size", "4", "--reference-pretrain-steps", "0", "--out-dir", str(out)]) == 0
    record = json.loads((out / "result.json").read_text())
    assert len(record["history"]) == 2 and len(record["regret"]) == 2 and record["provenance"]["git_commit"]
    for bad in (["--scheme", "both"], ["--model", str(tmp_path / "nowhere"), "--prompts", "p.jsonl"]):
        with pytest.raises(SystemExit) as exit_info:
            main(["llm", "online", "--out-dir", str(tmp_path / "x"), *bad])
        assert exit_info.value.code == 2
