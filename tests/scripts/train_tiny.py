"""Train the tiny offline config for 3 steps and save the parameters (run directly or under torchrun)."""
import sys, dataclasses, torch
from vpo_llm.training import OfflineConfig, train_offline
import vpo_llm.training as training
from vpo_llm.tasks import TaskConfig
captured = {}
original = training.tiny_causal_lm
def capture(*a, **k):
    captured["m"] = original(*a, **k); return captured["m"]
training.tiny_causal_lm = capture
config = OfflineConfig(num_pairs=64, steps=3, eval_every=3, dtype="float64", batch_size=8, task=TaskConfig(num_prompts=2, response_vocab=3, response_length=2))
train_offline(config, progress=False)
from accelerate import PartialState
if PartialState().is_main_process:
    torch.save({n: p.detach().clone() for n, p in captured["m"].named_parameters()}, sys.argv[1])
