"""Train the tiny offline config for 3 steps and save the parameters (run directly or under torchrun)."""

import sys

import torch
from accelerate import PartialState

import vpo_llm.training as training
from vpo_llm.tasks import TaskConfig
from vpo_llm.training import OfflineConfig, train_offline

captured = {}
original = training.tiny_causal_lm


def capture(*args, **kwargs):
    captured["model"] = original(*args, **kwargs)
    return captured["model"]


training.tiny_causal_lm = capture
config = OfflineConfig(num_pairs=64, steps=3, eval_every=3, dtype="float64", batch_size=8,
                       task=TaskConfig(num_prompts=2, response_vocab=3, response_length=2))
train_offline(config, progress=False)
if PartialState().is_main_process:
    torch.save({name: p.detach().clone() for name, p in captured["model"].named_parameters()}, sys.argv[1])
