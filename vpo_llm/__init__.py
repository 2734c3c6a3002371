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

from vpo_theory.lazy import lazy_exports

#: public name → the module that defines it
_EXPORTS = {name: module for module, names in {
    "logprobs": "sequence_logps token_logps",
    "losses": "dpo_loss ipo_loss vpo_loss",
    "models": "TinyLMConfig load_local_model tiny_causal_lm",
    "tasks": "EnumerableTask",
    "configs": "TaskConfig OfflineConfig OnlineConfig BridgeConfig",
    "term": "VPOTerm",
    "runs": "train_offline train_online",
    "bridge": "run_bridge",
    "oracles": "BradleyTerryOracle CallableOracle RewardModelOracle",
    "trainers": "VPOConfig VPOTrainer",
    "online_trainers": "OnlineVPOConfig OnlineVPOTrainer",
}.items() for name in names.split()}
_NEEDS_TRL = {"trainers", "online_trainers", "runs", "bridge"}

__all__ = sorted(_EXPORTS)


def _needs_trl(name: str, module: str, error: ImportError) -> str | None:
    if module in _NEEDS_TRL and "trl" in str(error).lower():
        return f"vpo_llm.{name} needs TRL: pip install -e \".[trl]\" ({error})"
    return None


__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS, needs=_needs_trl)
