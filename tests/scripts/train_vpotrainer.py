"""Three VPOTrainer steps on a tiny float64 Llama with a global batch of 4 pairs, however many processes run it;
rank 0 saves the final parameters to argv[1]. Run directly (one process) or under torchrun (gloo on CPU)."""

import os
import sys

import datasets
import torch

from vpo_llm import VPOConfig, VPOTrainer
from vpo_llm.models import TinyLMConfig, tiny_causal_lm, word_tokenizer

world = int(os.environ.get("WORLD_SIZE", "1"))
calibration = sys.argv[2] if len(sys.argv) > 2 else "behavior"
tokenizer = word_tokenizer(14)
rows = {"prompt": [f"w{i % 5} w{(i + 2) % 7}" for i in range(8)],
        "chosen": [f" w{8 + i % 3} w9" for i in range(8)],
        "rejected": [f" w{10 + i % 4}" for i in range(8)],
        "calibration": [f" w{i % 6}" for i in range(8)]}
config = VPOConfig(output_dir=os.path.join(os.path.dirname(sys.argv[1]), f"run-{world}"), report_to=[], use_cpu=True,
                   bf16=False, per_device_train_batch_size=4 // world, max_steps=3, learning_rate=1e-2, beta=0.2,
                   vpo_alpha=0.5, vpo_sign=-1, vpo_calibration=calibration, save_strategy="no", seed=11,
                   disable_tqdm=True, ddp_backend="gloo" if world > 1 else None)
trainer = VPOTrainer(model=tiny_causal_lm(TinyLMConfig(vocab_size=len(tokenizer), seed=0)).to(torch.float64),
                     ref_model=tiny_causal_lm(TinyLMConfig(vocab_size=len(tokenizer), seed=1)).to(torch.float64),
                     args=config, train_dataset=datasets.Dataset.from_dict(rows), processing_class=tokenizer)
trainer.train()
if trainer.accelerator.is_main_process:
    model = trainer.accelerator.unwrap_model(trainer.model)
    torch.save({name: p.detach().clone() for name, p in model.named_parameters()}, sys.argv[1])
