"""Train a tiny config through the TRL trainers (offline: 3 steps; online: 2 rounds) and save the parameters, with a
global batch of 8 pairs however many processes run it. Run directly or under torchrun: ``train_tiny.py OUT.pt
[offline|online]``."""

import os
import sys

import torch
from accelerate import PartialState

from vpo_llm.configs import OfflineConfig, OnlineConfig, TaskConfig
from vpo_llm.runs import train_offline, train_online

world = int(os.environ.get("WORLD_SIZE", "1"))
task = TaskConfig(num_prompts=2, response_vocab=3, response_length=2)
if (sys.argv[2] if len(sys.argv) > 2 else "offline") == "online":
    config = OnlineConfig(iterations=2, prompts_per_iteration=8, steps_per_iteration=2, batch_size=8 // world,
                          ref_samples_per_prompt=4, reference_pretrain_steps=0, dtype="float64", task=task,
                          progress=False)
    model = train_online(config)["model"]
else:
    config = OfflineConfig(num_pairs=64, steps=3, eval_every=3, dtype="float64", batch_size=8 // world, task=task,
                           progress=False)
    model = train_offline(config)["model"]
if PartialState().is_main_process:
    torch.save({name: p.detach().clone() for name, p in model.named_parameters()}, sys.argv[1])
