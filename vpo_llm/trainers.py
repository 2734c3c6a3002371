"""VPO on TRL: ``VPOConfig(trl.DPOConfig)`` and ``VPOTrainer(trl.DPOTrainer)``  (docs/theory.md §5).

The trainer is TRL's DPO trainer with one more term in its loss — the mean-form VPO calibration term

    L = L_DPO + s·a·β·mean_j [log π(ỹ_j|x_j) − log π_ref(ỹ_j|x_j)]        (theory §5, mean form; I6)

computed from the same forward passes TRL already makes (no extra forward for π_cal = `chosen` or `behavior`:
the calibration samples are the batch's own responses). Everything DPOTrainer supports keeps working — LoRA
through ``peft_config``, gradient checkpointing, bf16, ``precompute_ref_log_probs``, chat templates, eval sets,
``report_to``, checkpoints — because the only method overridden is the loss, and it delegates the DPO part to
TRL. With ``vpo_alpha = 0`` it *is* DPOTrainer (the override is not entered).

    from vpo_llm import VPOConfig, VPOTrainer
    config = VPOConfig(output_dir="out", beta=0.1, vpo_alpha=0.5, vpo_sign=-1, vpo_calibration="chosen")
    trainer = VPOTrainer(model=model, args=config, train_dataset=data, processing_class=tokenizer)
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import torch
from trl import DPOConfig, DPOTrainer

__all__ = ["VPOConfig", "VPOTrainer", "CALIBRATIONS"]

#: π_cal the trainer supports: the batch's chosen responses (the offline default; with s = −1 it is DPO plus a
#: supervised term on the preferred responses), or both responses of each pair (the data-collecting policy).
CALIBRATIONS = ("chosen", "behavior")


@dataclass
class VPOConfig(DPOConfig):
    """``trl.DPOConfig`` with VPO's fields (theory §5). The DPO part is configured exactly as in TRL."""

    vpo_sign: int = field(default=-1, metadata={"help": "VPO's sign s: −1 pessimism (offline), +1 optimism (online)"})
    vpo_alpha: float = field(default=0.0, metadata={
        "help": "the mean-form weight a ≥ 0 of the calibration term (a = α/N for a sum-form α over N pairs); 0 is "
                "DPOTrainer exactly"})
    vpo_alpha_scale: float | None = field(default=None, metadata={
        "help": "convenience: set a = c/√N (sum-form α = c·√N, theory §4) from the training set's N pairs"})
    vpo_calibration: str = field(default="chosen", metadata={
        "help": "π_cal: 'chosen' (the batch's preferred responses) or 'behavior' (both responses of each pair)"})
    vpo_cal_normalization: str = field(default="sum", metadata={
        "help": "'sum' (theory-exact: summed log-ratios, I6) or 'token_mean' (each divided by its token count, "
                "as TRL's sft loss pools; departs from I6)"})
    vpo_reward_bound: float | None = field(default=None, metadata={
        "help": "the bounded class for s = +1: the calibration samples' implicit rewards β·(log π − log π_ref) are "
                "clipped to [−B, B], so the optimistic loss has a minimizer (theory §5, 'A bounded class'); None: "
                "unbounded (then s = +1 has none)"})

    def __post_init__(self):
        super().__post_init__()
        if isinstance(self.vpo_sign, bool) or self.vpo_sign not in (1, -1):
            raise ValueError(f"`vpo_sign` must be +1 or -1, got {self.vpo_sign!r}")
        if not (isinstance(self.vpo_alpha, (int, float)) and math.isfinite(self.vpo_alpha) and self.vpo_alpha >= 0):
            raise ValueError(f"`vpo_alpha` must be a finite number >= 0, got {self.vpo_alpha!r}")
        if self.vpo_alpha_scale is not None:
            if not (math.isfinite(self.vpo_alpha_scale) and self.vpo_alpha_scale >= 0):
                raise ValueError(f"`vpo_alpha_scale` must be a finite number >= 0 (or None), got {self.vpo_alpha_scale}")
            if self.vpo_alpha:
                raise ValueError("pass `vpo_alpha` or `vpo_alpha_scale`, not both")
        if self.vpo_calibration not in CALIBRATIONS:
            raise ValueError(f"`vpo_calibration` must be one of {CALIBRATIONS}, got {self.vpo_calibration!r}")
        if self.vpo_cal_normalization not in ("sum", "token_mean"):
            raise ValueError(f"`vpo_cal_normalization` must be 'sum' or 'token_mean', got {self.vpo_cal_normalization!r}")
        if self.vpo_reward_bound is not None and not (math.isfinite(self.vpo_reward_bound) and self.vpo_reward_bound > 0):
            raise ValueError(f"`vpo_reward_bound` must be > 0 (or None), got {self.vpo_reward_bound!r}")
        if self.ld_alpha is not None:
            raise ValueError("`ld_alpha` (length-desensitized log-probs) is not supported by VPOTrainer: the "
                             "calibration term needs the summed log-probabilities of theory §5")


class _Recorder:
    """Calls a model and keeps the per-token log-probs of its TRL forward (``fused_lm_head=True``)."""

    def __init__(self, model):
        self.model, self.log_probs = model, None

    def __call__(self, *args, **kwargs):
        outputs = self.model(*args, **kwargs)
        if kwargs.get("fused_lm_head") and self.log_probs is None:
            self.log_probs = outputs.log_probs
        return outputs

    def __getattr__(self, name):
        return getattr(self.model, name)


class VPOTrainer(DPOTrainer):
    """``trl.DPOTrainer`` whose loss gains VPO's calibration term (theory §5); see the module docstring.

    Logs TRL's metrics plus ``loss/dpo`` and ``loss/cal`` (the signed calibration term s·a·β·mean h̃).
    """

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        config: VPOConfig = self.args
        if not isinstance(config, VPOConfig):
            raise TypeError(f"`args` must be a VPOConfig, got {type(config).__name__}")
        self.vpo_alpha = config.vpo_alpha
        if config.vpo_alpha_scale is not None:  # a = c/√N: the mean form of α = c·√N (theory §4, §5)
            num_pairs = len(self.train_dataset)
            self.vpo_alpha = config.vpo_alpha_scale / math.sqrt(num_pairs)

    def _compute_loss(self, model, inputs, return_outputs):
        if self.vpo_alpha == 0:  # DPO, exactly
            return super()._compute_loss(model, inputs, return_outputs)
        policy = _Recorder(model)
        reference = None
        if not self.precompute_ref_logps and self.ref_model is not None:
            reference = self.ref_model = _Recorder(self.ref_model)  # the reference forward TRL makes anyway
        try:
            result = super()._compute_loss(policy, inputs, return_outputs)
        finally:
            if reference is not None:
                self.ref_model = reference.model
        dpo = result[0] if return_outputs else result
        cal_term = self._calibration_term(inputs, policy.log_probs, reference.log_probs if reference else None)
        loss = dpo + cal_term
        mode = "train" if self.model.training else "eval"
        self._metrics[mode]["loss/dpo"].append(self.accelerator.gather_for_metrics(dpo.detach()).mean().item())
        self._metrics[mode]["loss/cal"].append(self.accelerator.gather_for_metrics(cal_term.detach()).mean().item())
        return (loss, result[1]) if return_outputs else loss

    def _calibration_term(self, inputs, policy_log_probs, reference_log_probs) -> torch.Tensor:
        """s·a·β·mean_j h̃_j over the calibration samples (the batch's chosen, or chosen and rejected, responses)."""
        config: VPOConfig = self.args
        mask = inputs["completion_mask"][..., 1:].to(policy_log_probs.dtype)  # (2B, T−1): [chosen; rejected]
        policy_logps = (policy_log_probs[:, -mask.size(1):] * mask).sum(dim=1)  # (2B,) summed log π(y|x)
        if self.precompute_ref_logps:
            ref_logps = torch.cat([inputs["ref_chosen_logps"], inputs["ref_rejected_logps"]]).to(policy_logps)
        elif reference_log_probs is not None:
            ref_logps = (reference_log_probs[:, -mask.size(1):].detach() * mask).sum(dim=1)
        else:  # LoRA with the adapters disabled as the reference: TRL's own reference pass, once more
            ref_logps = torch.cat(self.compute_ref_log_probs(self.model, inputs)).to(policy_logps)
        log_ratio = policy_logps - ref_logps  # (2B,) h = log π − log π_ref per response
        if config.vpo_cal_normalization == "token_mean":
            log_ratio = log_ratio / mask.sum(dim=1).clamp(min=1.0)
        if config.vpo_calibration == "chosen":
            log_ratio = log_ratio.chunk(2)[0]
        if config.vpo_reward_bound is not None:  # the bounded class: β·h̃ ∈ [−B, B] (theory §5)
            bound = config.vpo_reward_bound / self.beta
            log_ratio = log_ratio.clamp(-bound, bound)
        return config.vpo_sign * self.vpo_alpha * self.beta * log_ratio.mean()
