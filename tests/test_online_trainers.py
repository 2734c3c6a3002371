"""OnlineVPOTrainer (Algorithm 1 on VPOTrainer): the buffer grows as D_t = D_{t−1} ∪ new (or stays fresh), pairs are
written in TRL's layout with the judge's labels, y² and the calibration samples come from cached π_ref pools, the
weight follows a_t = c/√N_t, and a resumed run equals an uninterrupted one."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch

pytest.importorskip("trl")
pytest.importorskip("tokenizers")

from vpo_llm import OnlineVPOConfig, OnlineVPOTrainer  # noqa: E402
from vpo_llm.models import TinyLMConfig, tiny_causal_lm, word_tokenizer  # noqa: E402

PROMPTS = ["w1 w2", "w3", "w4 w5 w6"]


def prefers_more_w7(prompts, first, second):
    """A judge: the response with more "w7" words wins (ties: the first)."""
    return np.array([a.split().count("w7") >= b.split().count("w7") for a, b in zip(first, second)])


def _trainer(folder, judge=prefers_more_w7, **fields):
    tokenizer = word_tokenizer(14)
    model = tiny_causal_lm(TinyLMConfig(vocab_size=len(tokenizer), seed=0)).to(torch.float64)
    config = OnlineVPOConfig(output_dir=str(folder), per_device_train_batch_size=4, report_to=[], use_cpu=True,
                             beta=0.1, learning_rate=1e-2, logging_steps=1, online_prompts_per_iteration=4, bf16=False,
                             online_steps_per_iteration=2, online_max_new_tokens=4, seed=5, **fields)
    return OnlineVPOTrainer(model, args=config, prompts=PROMPTS, judge=judge, processing_class=tokenizer)


def test_rounds_accumulate_pairs_in_trl_layout_with_the_judges_labels(tmp_path):
    trainer = _trainer(tmp_path, online_iterations=3)
    history = trainer.train()
    assert [row["pairs"] for row in history] == [4, 8, 12]
    for row in history:  # a_t = c/√N_t with c = 0.1
        assert row["alpha"] == pytest.approx(0.1 / math.sqrt(row["pairs"]))
    rows = [json.loads(line) for line in (tmp_path / "pairs.jsonl").read_text().splitlines()]
    assert len(rows) == 12
    for row in rows:
        assert {"prompt", "chosen", "rejected", "calibration"} <= set(row) and row["prompt"] in PROMPTS
        assert prefers_more_w7(None, [row["chosen"]], [row["rejected"]])[0] or \
            row["chosen"].split().count("w7") == row["rejected"].split().count("w7")
        pool = trainer.pools[PROMPTS.index(row["prompt"])]
        assert row["calibration"] in pool  # π_cal = π_ref: a cached pool draw
        assert row["chosen"] in pool or row["rejected"] in pool  # policy-ref: y² is a pool draw
    assert all(len(pool) == 4 for pool in trainer.pools.values())
    assert all(np.isfinite(row["loss"]) for row in history)


def test_fresh_only_trains_on_the_rounds_pairs(tmp_path):
    history = _trainer(tmp_path, online_iterations=2, online_accumulate=False).train()
    assert [row["pairs"] for row in history] == [4, 4]


def test_a_resumed_run_equals_an_uninterrupted_one(tmp_path):
    straight = _trainer(tmp_path / "straight", online_iterations=3)
    straight.train()
    _trainer(tmp_path / "stopped", online_iterations=2).train()
    resumed = _trainer(tmp_path / "stopped", online_iterations=3)
    assert resumed.round == 2 and len(resumed.pairs) == 8
    resumed.train()
    assert [r["pairs"] for r in resumed.history] == [4, 8, 12]
    assert (tmp_path / "stopped" / "pairs.jsonl").read_text() == (tmp_path / "straight" / "pairs.jsonl").read_text()
    for (name, ours), theirs in zip(resumed.model.named_parameters(), straight.model.parameters()):
        torch.testing.assert_close(ours, theirs, rtol=1e-9, atol=1e-12, msg=name)


def test_bad_online_fields_are_refused_by_name(tmp_path):
    for fields, name in [({"online_scheme": "nope"}, "online_scheme"), ({"online_iterations": 0}, "online_iterations"),
                         ({"vpo_calibration": "column"}, "vpo_calibration"), ({"online_top_p": 1.5}, "online_top_p"),
                         ({"online_samples_per_prompt": 1}, "online_samples_per_prompt"),
                         ({"online_max_new_tokens": 2.0}, "online_max_new_tokens")]:
        with pytest.raises(ValueError, match=name):
            OnlineVPOConfig(output_dir=str(tmp_path), report_to=[], use_cpu=True, **fields)


def test_trl_parses_the_online_config_from_the_command_line(tmp_path):
    """TRL's scripts build their flags with ``HfArgumentParser``, which hands each field's metadata to argparse: the
    metadata must stay argparse's (help, choices), the changed defaults keep the parent's help, and a choice is
    enforced."""
    from transformers import HfArgumentParser

    from vpo_llm import VPOConfig

    parser = HfArgumentParser(OnlineVPOConfig)
    (config,) = parser.parse_args_into_dataclasses(["--output_dir", str(tmp_path), "--online_scheme", "policy-policy",
                                                    "--online_iterations", "3", "--report_to", "none",
                                                    "--use_cpu", "--bf16", "false"])
    assert (config.online_scheme, config.online_iterations, config.vpo_sign) == ("policy-policy", 3, 1)
    fields = OnlineVPOConfig.__dataclass_fields__
    assert fields["vpo_sign"].metadata["help"] == VPOConfig.__dataclass_fields__["vpo_sign"].metadata["help"]
    with pytest.raises(SystemExit):
        parser.parse_args_into_dataclasses(["--output_dir", str(tmp_path), "--online_scheme", "nope", "--use_cpu"])


def test_a_trl_pairwise_judge_labels_the_pairs(tmp_path):
    """A TRL-style pairwise judge (``.judge(prompts, completion_pairs)`` → index of the better one) is accepted."""

    class ShorterIsBetter:
        def judge(self, prompts, completions):
            return [0 if len(a.split()) <= len(b.split()) else 1 for a, b in completions]

    trainer = _trainer(tmp_path, judge=ShorterIsBetter(), online_iterations=1)
    trainer.train()
    assert all(len(p["chosen"].split()) <= len(p["rejected"].split()) for p in trainer.pairs)


# ----------------------------------------------------------------------------- reference work, best-of-N, judges
def test_each_rounds_reference_rows_are_its_new_pairs_only(tmp_path):
    """Over 8 rounds of 4 new pairs (the buffer growing to 32) the frozen reference scores 4 × (chosen + rejected +
    calibration) = 12 rows a round: each pair's log π_ref is computed once, when it enters the buffer, and carried
    with it (pairs.jsonl and the buffer), never again."""
    trainer = _trainer(tmp_path, online_iterations=8)
    scored = []

    def counting(module, args, kwargs):
        if "labels" in kwargs:  # a scoring pass (generation passes no labels)
            scored[-1] += int(kwargs["input_ids"].shape[0])

    trainer.ref_model.register_forward_pre_hook(counting, with_kwargs=True)
    collect = trainer._collect

    def round_start(t):
        scored.append(0)
        return collect(t)

    trainer._collect = round_start
    history = trainer.train()
    assert [row["pairs"] for row in history] == [4 * t for t in range(1, 9)]
    assert scored == [12] * 8
    rows = [json.loads(line) for line in (tmp_path / "pairs.jsonl").read_text().splitlines()]
    assert all({"ref_chosen_logps", "ref_rejected_logps", "ref_calibration_logps"} <= set(row) for row in rows)


def test_best_of_n_pairs_the_judges_best_and_worst(tmp_path):
    """N = 4 responses per prompt (three from π_t, one from the π_ref pool); best-worst pairs the judge's highest and
    lowest scores, the best preferred; random pairs two of them and lets the judge label them."""

    class CountsW7:
        def __call__(self, prompts, first, second):
            return prefers_more_w7(prompts, first, second)

        def scores(self, prompts, responses):
            return np.array([r.split().count("w7") - 0.01 * len(r.split()) for r in responses], dtype=float)

    judge = CountsW7()
    seen = []
    original = judge.scores

    def recording(prompts, responses):
        values = original(prompts, responses)
        seen.append((list(responses), values))
        return values

    judge.scores = recording
    trainer = _trainer(tmp_path / "best", judge=judge, online_iterations=1, online_samples_per_prompt=4,
                       online_pair_selection="best-worst")
    trainer.train()
    assert len(seen) == 4 and all(len(responses) == 4 for responses, _ in seen)
    for pair, (responses, values) in zip(trainer.pairs, seen):
        assert pair["chosen"] == responses[int(np.argmax(values))] and pair["rejected"] == responses[int(np.argmin(values))]
        assert pair["chosen"] in responses[:3] or pair["chosen"] == responses[3]  # three from π_t, the last a pool draw
        assert responses[3] in trainer.pools[PROMPTS.index(pair["prompt"])]
    random = _trainer(tmp_path / "random", online_iterations=1, online_samples_per_prompt=3)
    random.train()
    assert all(prefers_more_w7(None, [p["chosen"]], [p["rejected"]])[0] or
               p["chosen"].split().count("w7") == p["rejected"].split().count("w7") for p in random.pairs)


def test_a_reward_model_with_its_own_tokenizer_and_chat_template_judges_the_policys_text(tmp_path):
    """The policy and the reward model share no vocabulary order (another word-level tokenizer, ids shuffled) and the
    reward model has a chat template: it scores the template's rendering encoded by its own tokenizer (checked by
    scoring that text directly), and the online loop runs with it."""
    import tokenizers
    from transformers import PreTrainedTokenizerFast

    from vpo_llm.oracles import RewardModelOracle

    from .tiny_models import save_tiny_reward_model

    words = ["<pad>", "<eos>", "USER:", "ASSISTANT:"] + [f"w{i}" for i in range(13, -1, -1)]  # reversed ids
    backend = tokenizers.Tokenizer(tokenizers.models.WordLevel(vocab={w: i for i, w in enumerate(words)},
                                                               unk_token="<pad>"))
    backend.pre_tokenizer = tokenizers.pre_tokenizers.WhitespaceSplit()
    rm_tokenizer = PreTrainedTokenizerFast(tokenizer_object=backend, pad_token="<pad>", eos_token="<eos>")
    rm_tokenizer.chat_template = "{% for m in messages %}{{ m['role'] | upper }}: {{ m['content'] }} {% endfor %}"
    folder = save_tiny_reward_model(tmp_path / "reward", rm_tokenizer)
    oracle = RewardModelOracle(folder, sample=False)
    assert oracle.render("w1 w2", " w3") == "USER: w1 w2 ASSISTANT:  w3 "
    direct = rm_tokenizer(["USER: w1 w2 ASSISTANT:  w3 "], return_tensors="pt")
    with torch.no_grad():
        expected = float(oracle.model(**direct).logits[0, 0])
    assert oracle.scores(["w1 w2"], [" w3"])[0] == pytest.approx(expected, rel=1e-6)
    history = _trainer(tmp_path / "run", judge=oracle, online_iterations=1, online_samples_per_prompt=3,
                       online_pair_selection="best-worst").train()
    assert history[0]["pairs"] == 4


def test_an_unsupported_trl_is_refused_with_the_supported_range():
    from types import SimpleNamespace

    import trl

    from vpo_llm import trl_guard

    assert trl_guard.problems() == []  # the installed TRL is supported
    renamed = type("Trainer", (), {name: getattr(trl.DPOTrainer, name) for name in trl_guard.OVERRIDDEN
                                   if name != "_compute_loss"})
    fake = SimpleNamespace(__version__="1.18.0", DPOTrainer=renamed, trainer=trl.trainer)
    with pytest.raises(ImportError, match=r"TRL >= 1\.16, < 1\.17.*TRL 1\.18\.0.*_compute_loss does not exist"):
        trl_guard.check(fake)


def test_an_online_runs_pairs_train_offline_as_they_are(tmp_path):
    """The round trip: pairs.jsonl as OnlineVPOTrainer writes it — an empty response among them (the policy may end
    at once) — trains with `vpo llm offline --dataset` unchanged."""
    from vpo.cli import main
    from vpo_llm.models import save_tiny_model

    trainer = _trainer(tmp_path / "online", online_iterations=2)
    trainer.train()
    pairs = tmp_path / "online" / "pairs.jsonl"
    rows = [json.loads(line) for line in pairs.read_text().splitlines()]
    rows[0]["chosen"] = ""  # what a policy that emits EOS at once writes
    pairs.write_text("".join(json.dumps(row) + "\n" for row in rows))
    save_tiny_model(tmp_path / "model")
    out = tmp_path / "offline"
    assert main(["llm", "offline", "--model", str(tmp_path / "model"), "--dataset", str(pairs), "--steps", "2",
                 "--batch-size", "4", "--calibration", "column", "--out-dir", str(out), "--no-progress"]) == 0
    assert json.loads((out / "result.json").read_text())["rows"] == len(rows)
