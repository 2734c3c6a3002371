"""The enumerable task through the TRL trainers: the adaptors make TRL's sequence policy the task's policy (the
experiments themselves: tests/test_training.py, tests/test_online_llm.py)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

pytest.importorskip("trl")
pytest.importorskip("tokenizers")

from vpo_llm.configs import TaskConfig  # noqa: E402
from vpo_llm.models import TinyLMConfig, tiny_causal_lm  # noqa: E402
from vpo_llm.task_trainers import response_index, response_text, task_tokenizer, task_trainer_model  # noqa: E402
from vpo_llm.tasks import EnumerableTask  # noqa: E402

TASK = TaskConfig(num_prompts=3, response_vocab=3, response_length=2)


def test_texts_and_indices_round_trip_and_bad_texts_are_refused():
    task = EnumerableTask(TASK)
    assert [response_index(task, response_text(task, y)) for y in range(task.num_responses)] == \
        list(range(task.num_responses))
    for bad in (" r1", " r1 r7", " r0 r1 r2"):
        with pytest.raises(ValueError, match="not a response"):
            response_index(task, bad)


def test_the_full_softmax_of_the_adapted_model_is_the_tasks_policy():
    """After the adaptors, log-softmax over the whole vocabulary (what TRL scores) equals the task's restricted
    policy at every response position; pad and EOS get no mass."""
    task = EnumerableTask(TASK)
    tokenizer = task_tokenizer(task)
    model = task_trainer_model(tiny_causal_lm(TinyLMConfig(vocab_size=TASK.vocab_size), dtype=torch.float64), task,
                               tokenizer)
    ids, _ = task._all_inputs  # (X·Y, P + L)
    with torch.no_grad():
        full = torch.log_softmax(model(input_ids=ids).logits[:, -TASK.response_length - 1:-1], dim=-1)  # (N, L, V′)
        restricted = task.policy_logps(model).reshape(-1)  # (X·Y,)
    summed = full.gather(-1, ids[:, -TASK.response_length:, None]).squeeze(-1).sum(-1)
    torch.testing.assert_close(summed, restricted, rtol=0, atol=1e-12)
    assert float(full[..., TASK.response_vocab:].exp().max()) == 0.0
    assert tokenizer(" r2 r0")["input_ids"] == [2, 0] and model.generation_config.eos_token_id == len(tokenizer) - 1
