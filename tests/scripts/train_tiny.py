"""Train a tiny config (offline: 3 steps; online: 2 iterations) and save the parameters.

Run directly or under torchrun: ``train_tiny.py OUT.pt [offline|online]``.
"""

import sys

import torch
from accelerate import PartialState

import vpo_llm.online as online
import vpo_llm.training as training
from vpo_llm.tasks import TaskConfig

task = TaskConfig(num_prompts=2, response_vocab=3, response_length=2)
if (sys.argv[2] if len(sys.argv) > 2 else "offline") == "online":
    config = online.OnlineConfig(iterations=2, prompts_per_iteration=8, steps_per_iteration=2, batch_size=8,
                                 ref_samples_per_prompt=4, reference_pretrain_steps=0, dtype="float64", task=task)
    model = online.train_online(config, progress=False)["model"]
else:
    config = training.OfflineConfig(num_pairs=64, steps=3, eval_every=3, dtype="float64", batch_size=8, task=task)
    model = training.train_offline(config, progress=False)["model"]
if PartialState().is_main_process:
    torch.save({name: p.detach().clone() for name, p in model.named_parameters()}, sys.argv[1])
