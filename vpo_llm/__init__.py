"""vpo_llm — the VPO loss for causal language models, on TRL  (theory §5, §6, §9).

- ``losses``: ``vpo_loss`` (theory §5 mean form) and its DPO / IPO relatives; ``logprobs``: ``sequence_logps``;
- ``term``: ``VPOTerm``, everything VPO adds to DPO in one value;
- ``trainers``: ``VPOConfig`` / ``VPOTrainer``, VPO on TRL's DPO trainer, with its π_cal strategies in
  ``calibrations``; ``online_trainers``: ``OnlineVPOConfig`` / ``OnlineVPOTrainer``, Algorithm 1 on it;
- ``tasks`` and ``task_trainers``: the enumerable sequence task with exact J/KL/SubOpt and its adapters to TRL;
- ``configs`` and ``runs``: the experiments (offline, online; the built-in task or a local model) — every one trains
  through the TRL trainers; ``bridge``: the bandit-to-LLM bridge;
- ``models``, ``data``, ``oracles``, ``environments``: tiny models and local folders, checked JSONL data, judges,
  sampling.

Names load their module on first use: ``import vpo_llm`` is instant, torch and TRL come with the first trainer.
"""

from __future__ import annotations

import importlib

#: public name → the module that defines it
_EXPORTS = {
    "sequence_logps": "logprobs", "token_logps": "logprobs",
    "dpo_loss": "losses", "ipo_loss": "losses", "vpo_loss": "losses",
    "TinyLMConfig": "models", "load_local_model": "models", "tiny_causal_lm": "models",
    "EnumerableTask": "tasks", "TaskConfig": "configs",
    "VPOTerm": "term",
    "OfflineConfig": "configs", "OnlineConfig": "configs", "BridgeConfig": "configs",
    "train_offline": "runs", "train_online": "runs", "run_bridge": "bridge",
    "BradleyTerryOracle": "oracles", "CallableOracle": "oracles", "RewardModelOracle": "oracles",
    "VPOConfig": "trainers", "VPOTrainer": "trainers",
    "OnlineVPOConfig": "online_trainers", "OnlineVPOTrainer": "online_trainers",
}
_NEEDS_TRL = {"trainers", "online_trainers", "runs", "bridge"}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str):
    if name in _EXPORTS:
        module_name = _EXPORTS[name]
        try:
            module = importlib.import_module(f".{module_name}", __name__)
        except ImportError as error:
            if module_name in _NEEDS_TRL and "trl" in str(error).lower():
                raise ImportError(f"vpo_llm.{name} needs TRL: pip install -e \".[trl]\" ({error})") from None
            raise
        value = getattr(module, name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'vpo_llm' has no attribute {name!r}")


def __dir__():
    return sorted(set(globals()) | set(_EXPORTS))
