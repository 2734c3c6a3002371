"""vpo_llm — the VPO loss for causal language models (PyTorch)  (theory §5, §9).

- ``losses``: ``vpo_loss`` (theory §5 mean form) and its DPO / IPO relatives;
- ``logprobs``: ``sequence_logps`` for causal LMs (padding either side, prompt excluded);
- ``models``: a tiny Llama from config, or a local Hugging Face folder (nothing downloaded);
- ``tasks``: the enumerable sequence task, exact J/KL/SubOpt, export to ``vpo_theory``;
- ``training``: the offline trainer; ``online``: the online trainer (Algorithm 1) with
  ``environments`` (generation) and ``oracles`` (who wins a pair);
- ``bridge``: the bandit-to-LLM bridge experiment;
- ``trainers``: ``VPOConfig`` / ``VPOTrainer``, VPO on TRL's DPO trainer; ``online_trainers``:
  ``OnlineVPOConfig`` / ``OnlineVPOTrainer``, Algorithm 1 on it (both need the ``trl`` extra; imported on first use).
"""

from .logprobs import sequence_logps, token_logps
from .losses import dpo_loss, ipo_loss, vpo_loss
from .models import TinyLMConfig, load_local_model, tiny_causal_lm
from .tasks import EnumerableTask, TaskConfig
from .training import OfflineConfig, train_offline
from .bridge import BridgeConfig, run_bridge
from .online import OnlineConfig, ReferenceSampleCache, train_online
from .oracles import BradleyTerryOracle, CallableOracle, RewardModelOracle
from .training import DatasetConfig, train_on_dataset

_TRL_NAMES = {"VPOConfig": "trainers", "VPOTrainer": "trainers", "OnlineVPOConfig": "online_trainers",
              "OnlineVPOTrainer": "online_trainers"}


def __getattr__(name: str):
    """The TRL trainers import TRL, so they load on first use (the rest of vpo_llm needs no TRL)."""
    if name in _TRL_NAMES:
        import importlib

        try:
            module = importlib.import_module(f".{_TRL_NAMES[name]}", __name__)
        except ImportError as error:
            raise ImportError(f"vpo_llm.{name} needs TRL: pip install -e \".[trl]\" ({error})") from None
        return getattr(module, name)
    raise AttributeError(f"module 'vpo_llm' has no attribute {name!r}")


__all__ = [
    "OnlineVPOConfig",
    "OnlineVPOTrainer",
    "VPOConfig",
    "VPOTrainer",
    "BradleyTerryOracle",
    "BridgeConfig",
    "CallableOracle",
    "DatasetConfig",
    "EnumerableTask",
    "OfflineConfig",
    "OnlineConfig",
    "ReferenceSampleCache",
    "RewardModelOracle",
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
    "train_on_dataset",
    "train_online",
    "vpo_loss",
]
