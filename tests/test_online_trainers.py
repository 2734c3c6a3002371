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
                         ({"vpo_calibration": "column"}, "vpo_calibration")]:
        with pytest.raises(ValueError, match=name):
            OnlineVPOConfig(output_dir=str(tmp_path), report_to=[], use_cpu=True, **fields)


def test_a_trl_pairwise_judge_labels_the_pairs(tmp_path):
    """A TRL-style pairwise judge (``.judge(prompts, completion_pairs)`` → index of the better one) is accepted."""

    class ShorterIsBetter:
        def judge(self, prompts, completions):
            return [0 if len(a.split()) <= len(b.split()) else 1 for a, b in completions]

    trainer = _trainer(tmp_path, judge=ShorterIsBetter(), online_iterations=1)
    trainer.train()
    assert all(len(p["chosen"].split()) <= len(p["rejected"].split()) for p in trainer.pairs)
