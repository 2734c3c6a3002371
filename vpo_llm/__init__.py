"""vpo_llm — the VPO loss for causal language models (PyTorch)  (MATH §5, §9).

So far: the loss functions (``vpo_loss`` and its DPO / IPO relatives) and ``sequence_logps``
for causal LMs. The enumerable task, models and trainers are still to come (issue "LLM core: …").
"""

from .logprobs import sequence_logps, token_logps
from .losses import dpo_loss, ipo_loss, vpo_loss

__all__ = ["dpo_loss", "ipo_loss", "sequence_logps", "token_logps", "vpo_loss"]
