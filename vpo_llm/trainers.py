"""VPO on TRL: ``VPOConfig(trl.DPOConfig)`` and ``VPOTrainer(trl.DPOTrainer)``  (docs/theory.md §5).

The trainer is TRL's DPO trainer with one more term in its loss — the mean-form VPO term (``vpo_llm.term``)

    L = L_DPO + s·a·β·mean_j [log π(ỹ_j|x_j) − log π_ref(ỹ_j|x_j)]        (theory §5, mean form; I6)

computed from the same forward passes TRL already makes (no extra forward for π_cal = `chosen` or `behavior`: the
calibration samples are the batch's own responses). Where the samples come from is a strategy
(``vpo_llm.calibrations``), looked up once. Everything DPOTrainer supports keeps working — LoRA through
``peft_config``, gradient checkpointing, bf16, ``precompute_ref_log_probs``, chat templates, eval sets, ``report_to``,
checkpoints — because the loss is the one method overridden, and it delegates the DPO part to TRL. With a weight of 0
it *is* DPOTrainer (the override is not entered).

    from vpo_llm import VPOConfig, VPOTrainer
    config = VPOConfig(output_dir="out", beta=0.1, vpo_sign=-1, vpo_calibration="chosen")   # a = 1/√N by default
    trainer = VPOTrainer(model=model, args=config, train_dataset=data, processing_class=tokenizer)

TRL's private methods this module overrides are checked at import (``vpo_llm.trl_guard``): a TRL outside the supported
range fails with one message naming it.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch
from trl import DPOConfig, DPOTrainer

from . import trl_guard
from .calibrations import CALIBRATION_STRATEGIES, CalibrationCollator
from .fields import help_field
from .losses import calibration_term
from .term import LLM_CALIBRATIONS, VPOTerm

__all__ = ["VPOConfig", "VPOTrainer", "CalibrationCollator", "LLM_CALIBRATIONS"]

trl_guard.check()

#: The columns of a data set that TRL has tokenized already (an online buffer): taken as they are.
TOKENIZED = ("prompt_ids", "chosen_ids", "rejected_ids")


@dataclass
class VPOConfig(DPOConfig):
    """``trl.DPOConfig`` with VPO's fields (theory §5): the ``vpo_*`` fields are a ``VPOTerm`` (``vpo_term``). The
    DPO part is configured exactly as in TRL. The default weight is a = 1/√N (α = √N): swapping ``DPOConfig`` for this
    class trains VPO; ``vpo_alpha=0`` is DPO exactly."""

    vpo_sign: int = help_field(-1, "VPO's sign s: −1 pessimism (offline), +1 optimism (online)")
    vpo_alpha: float | None = help_field(None, "the mean-form weight a ≥ 0 (a = α/N for a sum-form α over N pairs); 0 is "
                                                "DPOTrainer exactly; None → vpo_alpha_scale/√N")
    vpo_alpha_scale: float = help_field(1.0, "c in a = c/√N for the training set's N pairs (sum form α = c·√N, "
                                              "theory §4), used when vpo_alpha is None")
    vpo_calibration: str = help_field("chosen", "π_cal: 'chosen' (the batch's preferred responses), 'behavior' (both "
                                                 "responses of each pair), 'column' (the data set's `calibration` "
                                                 "column: one sample from π_cal per row, laid out as `chosen`) or "
                                                 "'reference' (one sample per row from π_ref, drawn once and cached "
                                                 "with its reference log-probability: π_cal = π_ref, theory §6)")
    vpo_completion_eos: bool = help_field(True, "end every completion with EOS, as TRL does; False for responses that "
                                                 "have no end token (e.g. the enumerable task's fixed-length responses, "
                                                 "theory §9): a trailing EOS is then removed from the tokenized "
                                                 "completions and the π_ref samples")
    vpo_reference_max_new_tokens: int = help_field(64, "calibration 'reference': the most tokens of each π_ref sample "
                                                        "(a sample cut at this length is a draw of its prefix; log π "
                                                        "and log π_ref are then of that prefix, so their ratio stays "
                                                        "exact)")
    vpo_cal_normalization: str = help_field("sum", "'sum' (theory-exact: summed log-ratios, I6) or 'token_mean' (each "
                                                    "divided by its token count, as TRL's sft loss pools; departs "
                                                    "from I6)")
    vpo_reward_bound: float | None = help_field(None, "the bounded class for s = +1: the calibration samples' implicit "
                                                       "rewards β·(log π − log π_ref) are clipped to [−B, B], so the "
                                                       "optimistic loss has a minimizer (theory §5, 'A bounded "
                                                       "class'); None: unbounded (then s = +1 has none)")

    def __post_init__(self):
        super().__post_init__()
        self.vpo_term = VPOTerm.from_fields(self)  # every vpo_* field checked, by its own name
        self.vpo_calibration = self.vpo_term.calibration
        if not isinstance(self.vpo_completion_eos, bool):
            raise TypeError(f"`vpo_completion_eos` must be True or False, got {self.vpo_completion_eos!r}")
        if not (isinstance(self.vpo_reference_max_new_tokens, int) and self.vpo_reference_max_new_tokens >= 1):
            raise ValueError(f"`vpo_reference_max_new_tokens` must be an integer >= 1, got "
                             f"{self.vpo_reference_max_new_tokens!r}")
        if self.ld_alpha is not None:
            raise ValueError("`ld_alpha` (length-desensitized log-probs) is not supported by VPOTrainer: the "
                             "calibration term needs the summed log-probabilities of theory §5")

    @classmethod
    def from_term(cls, term: VPOTerm, **fields) -> "VPOConfig":
        """A config for ``term`` and TRL's ``fields`` (output_dir, beta, …): the one map from a term to the config."""
        return cls(**term.trainer_fields(), **fields)


class _Recorder:
    """Calls a model and keeps the per-token log-probs of its TRL forward (``fused_lm_head=True``).

    With ``extra`` (the calibration rows: ``calibration_input_ids`` / ``_attention_mask`` / ``_completion_mask``)
    that forward also runs them: TRL's [chosen; rejected] rows and the calibration rows are right-padded to one
    width and go through the model once (one call instead of two: the step costs less on small batches); TRL gets
    its own rows' fields back, cut to their width — right padding leaves a causal model's earlier positions as they
    were — and ``extra_log_probs`` keeps the calibration rows'. (A MoE model's router loss then covers all rows.)
    """

    def __init__(self, model, extra: dict | None = None):
        self.model, self.extra = model, extra
        self.log_probs = self.extra_log_probs = None

    def __call__(self, *args, **kwargs):
        if not (kwargs.get("fused_lm_head") and self.log_probs is None):
            return self.model(*args, **kwargs)
        if self.extra is None or args or set(kwargs) - {"input_ids", "attention_mask", "labels", "use_cache",
                                                        "fused_lm_head"}:
            outputs = self.model(*args, **kwargs)
            self.log_probs = outputs.log_probs
            return outputs
        ids, completion = self.extra["calibration_input_ids"], self.extra["calibration_completion_mask"]
        rows, width = kwargs["input_ids"].shape  # (2B, T)
        joined = max(width, ids.size(1))

        def stack(own, theirs, fill):  # (2B, T) over (B, T′) → (3B, max(T, T′)), right-padded with `fill`
            pad = lambda t: torch.nn.functional.pad(t, (0, joined - t.size(1)), value=fill)  # noqa: E731
            return torch.cat([pad(own), pad(theirs.to(own.device))])

        pad_id = int(ids[0, -1]) if ids.numel() else 0  # any id: padded positions are masked and unlabeled
        outputs = self.model(input_ids=stack(kwargs["input_ids"], ids, pad_id),
                             attention_mask=stack(kwargs["attention_mask"], self.extra["calibration_attention_mask"], 0),
                             labels=stack(kwargs["labels"], ids.masked_fill(completion == 0, -100), -100),
                             use_cache=False, fused_lm_head=True)
        self.extra_log_probs = outputs.log_probs[rows:, :ids.size(1) - 1]  # (B, T′−1)
        cut = {key: value[:rows, :width - 1] if isinstance(value, torch.Tensor) and value.dim() == 2 else value
               for key, value in outputs.items()}
        outputs = type(outputs)(**cut)
        self.log_probs = outputs.log_probs
        return outputs

    def __getattr__(self, name):
        return getattr(self.model, name)


class VPOTrainer(DPOTrainer):
    """``trl.DPOTrainer`` whose loss gains VPO's term (theory §5); see the module docstring.

    Logs TRL's metrics plus ``loss/dpo`` and ``loss/cal`` (the signed calibration term s·a·β·mean h̃). A data set that
    TRL has tokenized already (``prompt_ids``, ``chosen_ids``, ``rejected_ids``: an online buffer) is taken as it is,
    and so are reference log-probabilities it carries (``ref_chosen_logps``, ``ref_rejected_logps``,
    ``ref_calibration_logps``) with ``precompute_ref_log_probs=True``: a pair's reference work is done once.
    """

    def __init__(self, *args, **kwargs):
        config = kwargs.get("args", args[1] if len(args) > 1 else None)
        if not isinstance(config, VPOConfig):
            raise TypeError(f"`args` must be a VPOConfig, got {type(config).__name__}")
        self.calibration = CALIBRATION_STRATEGIES[config.vpo_term.calibration]()  # looked up once
        super().__init__(*args, **kwargs)
        if self.args.disable_tqdm:  # no bars asked for: no per-step log lines either (transformers prints them then)
            from transformers import PrinterCallback

            self.remove_callback(PrinterCallback)
        self.vpo_alpha = config.vpo_term.mean_weight(len(self.train_dataset))  # a (theory §5, mean form)
        if self.calibration.columns:
            # the model is still π_ref here (nothing trained yet; LoRA: adapters off), so the samples and their
            # reference log-probs are computed once, before the first step
            self.train_dataset = self.calibration.attach(self, self.train_dataset, "train")
            if isinstance(self.eval_dataset, dict):
                self.eval_dataset = {name: self.calibration.attach(self, data, name)
                                     for name, data in self.eval_dataset.items()}
            elif self.eval_dataset is not None:
                self.eval_dataset = self.calibration.attach(self, self.eval_dataset, "eval")
            self.data_collator = CalibrationCollator(self.data_collator)

    # -- data: tokenization and the calibration samples ------------------------------------------------------------
    def _prepare_dataset(self, dataset, processing_class, args, dataset_name):
        """TRL's preparation (skipped for rows it has tokenized already), the strategy's columns, then — with
        ``vpo_completion_eos=False`` — each completion's trailing EOS removed."""
        if set(TOKENIZED) <= set(getattr(dataset, "column_names", None) or ()):
            return dataset  # tokenized already (an online buffer): its ids, EOS decisions and log-probs stand
        prepared = self.calibration.prepare(self, dataset, processing_class, args, dataset_name,
                                            super()._prepare_dataset)
        if getattr(args, "vpo_completion_eos", True):
            return prepared
        eos = processing_class.eos_token_id
        keys = [key for key in ("chosen_ids", "rejected_ids", "calibration_ids") if key in prepared.column_names]
        return prepared.map(lambda row: {key: row[key][:-1] if row[key][-1:] == [eos] else row[key] for key in keys})

    def _precompute_ref_logps(self, dataset, name, batch_size):
        """TRL's pass, unless the rows carry their reference log-probabilities already (computed once per pair)."""
        if {"ref_chosen_logps", "ref_rejected_logps"} <= set(getattr(dataset, "column_names", None) or ()):
            return dataset
        if not getattr(dataset, "cache_files", True) and self.accelerator.num_processes > 1:
            # TRL writes the pass next to the dataset's files and every process reads it back; an in-memory dataset
            # (an online round's pairs) has none, so each process would look in a temporary folder of its own. Give
            # it files in the output folder, which the processes share.
            import uuid

            import datasets
            from accelerate.utils import broadcast_object_list

            unique = broadcast_object_list([uuid.uuid4().hex], from_process=0)[0]  # the main process's
            folder = Path(self.args.output_dir) / "datasets" / f"{name}-{unique}"
            if self.accelerator.is_main_process:
                dataset.save_to_disk(str(folder))
            self.accelerator.wait_for_everyone()
            dataset = datasets.load_from_disk(str(folder))
        return super()._precompute_ref_logps(dataset, name, batch_size)

    def _set_signature_columns_if_needed(self):
        super()._set_signature_columns_if_needed()
        if self.calibration.columns:
            self._signature_columns = list(self._signature_columns) + list(self.calibration.columns)

    # -- the loss ---------------------------------------------------------------------------------------------------
    def _compute_loss(self, model, inputs, return_outputs):
        if self.vpo_alpha == 0:  # DPO, exactly
            inputs = {k: v for k, v in inputs.items() if not _is_calibration_key(k)}
            return super()._compute_loss(model, inputs, return_outputs)
        calibration = {k: inputs[k] for k in inputs if _is_calibration_key(k)}
        inputs = {k: v for k, v in inputs.items() if not _is_calibration_key(k)}
        policy = _Recorder(model, extra=calibration or None)  # calibration rows ride on TRL's policy forward
        reference = None
        if not self.precompute_ref_logps and self.ref_model is not None:
            reference = self.ref_model = _Recorder(self.ref_model)  # the reference forward TRL makes anyway
        try:
            result = super()._compute_loss(policy, inputs, return_outputs)
        finally:
            if reference is not None:
                self.ref_model = reference.model
        dpo = result[0] if return_outputs else result
        log_ratio, token_counts = self.calibration.log_ratio(self, inputs, calibration, policy, reference)
        term = self.args.vpo_term
        cal_term = calibration_term(log_ratio, beta=self.beta, alpha=self.vpo_alpha, sign=term.sign,
                                    cal_token_counts=token_counts.clamp(min=1.0), cal_normalization=term.normalization,
                                    reward_bound=term.reward_bound)  # s·a·β·mean_j h̃_j (theory §5)
        loss = dpo + cal_term
        mode = "train" if self.model.training else "eval"
        self._metrics[mode]["loss/dpo"].append(self.accelerator.gather_for_metrics(dpo.detach()).mean().item())
        self._metrics[mode]["loss/cal"].append(self.accelerator.gather_for_metrics(cal_term.detach()).mean().item())
        return (loss, result[1]) if return_outputs else loss


def _is_calibration_key(key: str) -> bool:
    return key.startswith("calibration_") or key == "ref_calibration_logps"
