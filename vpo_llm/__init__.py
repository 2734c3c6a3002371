"""vpo_llm — the VPO loss for causal language models (PyTorch)  (MATH §5, §9).

- ``losses``: ``vpo_loss`` (MATH §5 mean form) and its DPO / IPO relatives;
- ``logprobs``: ``sequence_logps`` for causal LMs (padding either side, prompt excluded);
- ``models``: a tiny Llama from config, or a local Hugging Face folder (nothing downloaded);
- ``tasks``: the enumerable sequence task, exact J/KL/SubOpt, export to ``vpo_theory``;
- ``training``: the offline trainer; ``bridge``: the bandit-to-LLM bridge experiment.
"""

from .logprobs import sequence_logps, token_logps
from .losses import dpo_loss, ipo_loss, vpo_loss
from .models import TinyLMConfig, load_local_model, tiny_causal_lm
from .tasks import EnumerableTask, TaskConfig
from .training import OfflineConfig, train_offline
from .bridge import BridgeConfig, run_bridge

__all__ = [
    "BridgeConfig",
    "EnumerableTask",
    "OfflineConfig",
    "TaskConfig",
    "TinyLMConfig",
    "dpo_loss",
    "ipo_loss",
    "load_local_model",
    "run_bridge",
    "sequence_logps",
    "tiny_causal_lm",
    "token_logps",
    "train_offline",
    "vpo_loss",
]
