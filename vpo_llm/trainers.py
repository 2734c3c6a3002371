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

import contextlib
import math
from dataclasses import dataclass, field

import datasets
import torch
from accelerate.utils import is_peft_model
from tqdm import tqdm
from trl import DPOConfig, DPOTrainer

from .environments import generate_completions
from .losses import calibration_term

__all__ = ["VPOConfig", "VPOTrainer", "CalibrationCollator", "CALIBRATIONS", "CALIBRATION_COLUMNS"]

#: π_cal the trainer supports: the batch's chosen responses (the offline default; with s = −1 it is DPO plus a
#: supervised term on the preferred responses), both responses of each pair (the data-collecting policy), a
#: ``calibration`` column of the data set (one sample from the user's π_cal per row, laid out as ``chosen``), or
#: one sample per row drawn from π_ref when the trainer is built (cached with its reference log-probability).
CALIBRATIONS = ("chosen", "behavior", "column", "reference")

#: The columns a data set gains for the ``column`` and ``reference`` calibrations (ids, and log π_ref computed once).
CALIBRATION_COLUMNS = ("calibration_prompt_ids", "calibration_ids", "ref_calibration_logps")

#: The reference samples are drawn with torch's generator seeded at ``seed + REFERENCE_SEED_OFFSET`` inside a forked
#: RNG state: a rebuilt trainer (``resume_from_checkpoint``) draws the same samples, and training's stream is untouched.
REFERENCE_SEED_OFFSET = 7919

_ROW = "vpo_row"  # a row index carried through TRL's tokenization, to join the calibration column back


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
        "help": "π_cal: 'chosen' (the batch's preferred responses), 'behavior' (both responses of each pair), "
                "'column' (the data set's `calibration` column: one sample from π_cal per row, laid out as `chosen`) "
                "or 'reference' (one sample per row from π_ref, drawn once when the trainer is built and cached "
                "with its reference log-probability: π_cal = π_ref, the online setting of theory §6)"})
    vpo_completion_eos: bool = field(default=True, metadata={
        "help": "end every completion with EOS, as TRL does; False for responses that have no end token (e.g. the "
                "enumerable task's fixed-length responses, theory §9): a trailing EOS is then removed from the "
                "tokenized completions and the π_ref samples"})
    vpo_reference_max_new_tokens: int = field(default=64, metadata={
        "help": "calibration 'reference': the most tokens of each π_ref sample (a sample cut at this length is a "
                "draw of its prefix; log π and log π_ref are then of that prefix, so their ratio stays exact)"})
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
        if not isinstance(self.vpo_completion_eos, bool):
            raise TypeError(f"`vpo_completion_eos` must be True or False, got {self.vpo_completion_eos!r}")
        if not (isinstance(self.vpo_reference_max_new_tokens, int) and self.vpo_reference_max_new_tokens >= 1):
            raise ValueError(f"`vpo_reference_max_new_tokens` must be an integer >= 1, got "
                             f"{self.vpo_reference_max_new_tokens!r}")
        if self.ld_alpha is not None:
            raise ValueError("`ld_alpha` (length-desensitized log-probs) is not supported by VPOTrainer: the "
                             "calibration term needs the summed log-probabilities of theory §5")


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
    """``trl.DPOTrainer`` whose loss gains VPO's calibration term (theory §5); see the module docstring.

    Logs TRL's metrics plus ``loss/dpo`` and ``loss/cal`` (the signed calibration term s·a·β·mean h̃).
    With ``vpo_calibration`` ``column`` or ``reference`` the data sets gain ``CALIBRATION_COLUMNS`` (their π_ref
    log-probabilities computed once, here) and each step makes one more policy forward, over the calibration samples.
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
        if config.vpo_calibration in ("column", "reference"):
            # the model is still π_ref here (nothing trained yet; LoRA: adapters off), so the samples and their
            # reference log-probs are computed once, before the first step
            self.train_dataset = self._calibrate(self.train_dataset, "train")
            if isinstance(self.eval_dataset, dict):
                self.eval_dataset = {name: self._calibrate(data, name) for name, data in self.eval_dataset.items()}
            elif self.eval_dataset is not None:
                self.eval_dataset = self._calibrate(self.eval_dataset, "eval")
            self.data_collator = CalibrationCollator(self.data_collator)

    # -- data: the calibration samples ------------------------------------------------------------------------------
    def _prepare_dataset(self, dataset, processing_class, args, dataset_name):
        """TRL's preparation (then, with ``vpo_completion_eos=False``, each completion's trailing EOS removed)."""
        prepared = self._prepare_with_calibration(dataset, processing_class, args, dataset_name)
        if getattr(args, "vpo_completion_eos", True):
            return prepared
        eos = processing_class.eos_token_id
        keys = [key for key in ("chosen_ids", "rejected_ids", "calibration_ids") if key in prepared.column_names]
        return prepared.map(lambda row: {key: row[key][:-1] if row[key][-1:] == [eos] else row[key] for key in keys})

    def _prepare_with_calibration(self, dataset, processing_class, args, dataset_name):
        """TRL's preparation; with calibration ``column`` the ``calibration`` texts are tokenized by the same code
        path as ``chosen`` (EOS, chat templates) and joined back by row."""
        if getattr(args, "vpo_calibration", None) != "column":
            return super()._prepare_dataset(dataset, processing_class, args, dataset_name)
        if not isinstance(dataset, datasets.Dataset):
            raise ValueError(f"vpo_calibration='column' needs a map-style datasets.Dataset for the {dataset_name} "
                             f"set, got {type(dataset).__name__}")
        missing = {"prompt", "calibration"} - set(dataset.column_names)
        if missing:
            raise ValueError(f"vpo_calibration='column': the {dataset_name} data set lacks {sorted(missing)}; add a "
                             f"'calibration' column (one sample from π_cal per row, laid out as 'chosen') next to "
                             f"an explicit 'prompt', or choose vpo_calibration='reference'")
        indexed = dataset.add_column(_ROW, list(range(len(dataset))))
        prepared = super()._prepare_dataset(indexed.remove_columns("calibration"), processing_class, args,
                                            dataset_name)
        keep = [c for c in ("prompt", "calibration", _ROW, "tools", "chat_template_kwargs") if c in dataset.column_names
                or c == _ROW]
        sibling = indexed.select_columns(keep).rename_column("calibration", "chosen")
        sibling = sibling.add_column("rejected", sibling["chosen"])
        sibling = super()._prepare_dataset(sibling, processing_class, args, f"{dataset_name} calibration")
        by_row = dict(zip(sibling[_ROW], zip(sibling["prompt_ids"], sibling["chosen_ids"])))
        lost = [row for row in prepared[_ROW] if row not in by_row]
        if lost:
            raise ValueError(f"vpo_calibration='column': row {lost[0]} of the {dataset_name} set has a prompt that "
                             f"fills max_length={args.max_length} with its calibration sample; raise max_length or "
                             f"shorten the prompt")
        prepared = prepared.map(lambda row: dict(zip(CALIBRATION_COLUMNS[:2], by_row[row[_ROW]])))
        return prepared.remove_columns(_ROW)

    def _set_signature_columns_if_needed(self):
        super()._set_signature_columns_if_needed()
        if self.args.vpo_calibration in ("column", "reference"):
            self._signature_columns = list(self._signature_columns) + list(CALIBRATION_COLUMNS)

    def _calibrate(self, dataset, name: str):
        """Add the π_ref samples (calibration ``reference``) and every calibration sample's log π_ref (both modes)."""
        if not isinstance(dataset, datasets.Dataset):
            raise ValueError(f"vpo_calibration={self.args.vpo_calibration!r} needs a map-style datasets.Dataset "
                             f"for the {name} set, got {type(dataset).__name__}")
        batch_size = self.args.precompute_ref_batch_size or self.args.per_device_train_batch_size
        if self.args.vpo_calibration == "reference":
            samples = []
            with torch.random.fork_rng(devices=[]):
                torch.manual_seed(self.args.seed + REFERENCE_SEED_OFFSET)
                for start in tqdm(range(0, len(dataset), batch_size), desc=f"Sampling π_ref for the {name} set",
                                  disable=not self.accelerator.is_main_process, leave=False):
                    samples += self._sample_reference(dataset["prompt_ids"][start:start + batch_size])
            dataset = dataset.add_column("calibration_prompt_ids", dataset["prompt_ids"])
            dataset = dataset.add_column("calibration_ids", samples)
        collate = CalibrationCollator(self.data_collator)
        reference = self.ref_model if self.ref_model is not None else self.model
        logps = []
        columns = dataset.select_columns(list(CALIBRATION_COLUMNS[:2]))
        for start in range(0, len(dataset), batch_size):
            chunk = columns[start:start + batch_size]  # {column: list}
            batch = collate.calibration_batch([dict(zip(chunk, row)) for row in zip(*chunk.values())])
            batch = {key: value.to(self.accelerator.device) for key, value in batch.items()}
            pair = {"input_ids": batch["calibration_input_ids"], "attention_mask": batch["calibration_attention_mask"],
                    "completion_mask": batch["calibration_completion_mask"]}
            logps.append(torch.cat(self.compute_ref_log_probs(reference, pair)).double().cpu())  # TRL's own pass
        return dataset.add_column("ref_calibration_logps", torch.cat(logps).tolist())

    def _sample_reference(self, prompts: list[list[int]]) -> list[list[int]]:
        """One completion per prompt from π_ref (``generate_completions``: plain sampling, temperature 1)."""
        reference = self.ref_model if self.ref_model is not None else self.accelerator.unwrap_model(self.model)
        adapters = contextlib.nullcontext()
        if self.ref_model is None and is_peft_model(reference):
            adapters = reference.disable_adapter()  # LoRA: the base model is π_ref
        with adapters:
            return generate_completions(reference, prompts, pad=self.data_collator.pad_token_id,
                                        eos=self.processing_class.eos_token_id,
                                        max_new_tokens=self.args.vpo_reference_max_new_tokens,
                                        keep_eos=self.args.vpo_completion_eos)

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
        if calibration:  # `column` / `reference`: the calibration samples, from the joint policy forward
            log_ratio, token_counts = self._cached_log_ratio(policy, calibration)
        else:
            log_ratio, token_counts = self._batch_log_ratio(inputs, policy.log_probs,
                                                            reference.log_probs if reference else None)
        cal_term = self._calibration_term(log_ratio, token_counts)
        loss = dpo + cal_term
        mode = "train" if self.model.training else "eval"
        self._metrics[mode]["loss/dpo"].append(self.accelerator.gather_for_metrics(dpo.detach()).mean().item())
        self._metrics[mode]["loss/cal"].append(self.accelerator.gather_for_metrics(cal_term.detach()).mean().item())
        return (loss, result[1]) if return_outputs else loss

    def _batch_log_ratio(self, inputs, policy_log_probs, reference_log_probs):
        """h = log π − log π_ref (2B,) of the batch's [chosen; rejected] responses, and their token counts (2B,)."""
        mask = inputs["completion_mask"][..., 1:].to(policy_log_probs.dtype)  # (2B, T−1): [chosen; rejected]
        policy_logps = (policy_log_probs[:, -mask.size(1):] * mask).sum(dim=1)  # (2B,) summed log π(y|x)
        if self.precompute_ref_logps:
            ref_logps = torch.cat([inputs["ref_chosen_logps"], inputs["ref_rejected_logps"]]).to(policy_logps)
        elif reference_log_probs is not None:
            ref_logps = (reference_log_probs[:, -mask.size(1):].detach() * mask).sum(dim=1)
        else:  # LoRA with the adapters disabled as the reference: TRL's own reference pass, once more
            ref_logps = torch.cat(self.compute_ref_log_probs(self.model, inputs)).to(policy_logps)
        log_ratio = policy_logps - ref_logps
        if self.args.vpo_calibration == "chosen":
            return log_ratio.chunk(2)[0], mask.sum(dim=1).chunk(2)[0]
        return log_ratio, mask.sum(dim=1)

    def _cached_log_ratio(self, policy: _Recorder, calibration):
        """h (B,) of the batch's calibration samples: log π from the policy forward, log π_ref from the cache."""
        log_probs = policy.extra_log_probs
        if log_probs is None:  # the model was called in a way the joint forward does not cover: a forward of its own
            ids, completion = calibration["calibration_input_ids"], calibration["calibration_completion_mask"]
            log_probs = policy.model(input_ids=ids, attention_mask=calibration["calibration_attention_mask"],
                                     labels=ids.masked_fill(completion == 0, -100), use_cache=False,
                                     fused_lm_head=True).log_probs
        mask = calibration["calibration_completion_mask"][..., 1:].to(log_probs.dtype)  # (B, T′−1)
        policy_logps = (log_probs[:, -mask.size(1):] * mask).sum(dim=1)  # (B,)
        return policy_logps - calibration["ref_calibration_logps"].to(policy_logps), mask.sum(dim=1)

    def _calibration_term(self, log_ratio: torch.Tensor, token_counts: torch.Tensor) -> torch.Tensor:
        """s·a·β·mean_j h̃_j over the calibration samples: ``vpo_llm.losses.calibration_term`` (theory §5)."""
        config: VPOConfig = self.args
        return calibration_term(log_ratio, beta=self.beta, alpha=self.vpo_alpha, sign=config.vpo_sign,
                                cal_token_counts=token_counts.clamp(min=1.0),
                                cal_normalization=config.vpo_cal_normalization, reward_bound=config.vpo_reward_bound)


def _is_calibration_key(key: str) -> bool:
    return key.startswith("calibration_") or key == "ref_calibration_logps"


class CalibrationCollator:
    """TRL's preference collator plus the calibration samples, right-padded the same way:
    ``calibration_input_ids``, ``calibration_attention_mask``, ``calibration_completion_mask`` (B, T) and
    ``ref_calibration_logps`` (B,) when cached."""

    def __init__(self, inner):
        self.inner = inner
        self.pad_token_id = inner.pad_token_id

    def __call__(self, examples: list[dict]) -> dict:
        batch = self.inner(examples)
        return batch | self.calibration_batch(examples)

    def calibration_batch(self, examples: list[dict]) -> dict:
        sequences = [ex["calibration_prompt_ids"] + ex["calibration_ids"] for ex in examples]
        masks = [[0] * len(ex["calibration_prompt_ids"]) + [1] * len(ex["calibration_ids"]) for ex in examples]
        max_length = getattr(self.inner, "max_length", None)
        if max_length is not None:  # TRL's truncation of the pairs, applied to the calibration samples
            keep = slice(-max_length, None) if self.inner.truncation_mode == "keep_end" else slice(None, max_length)
            sequences, masks = [s[keep] for s in sequences], [m[keep] for m in masks]
        width = max(len(s) for s in sequences)
        batch = {
            "calibration_input_ids": torch.tensor([s + [self.pad_token_id] * (width - len(s)) for s in sequences]),
            "calibration_attention_mask": torch.tensor([[1] * len(s) + [0] * (width - len(s)) for s in sequences]),
            "calibration_completion_mask": torch.tensor([m + [0] * (width - len(m)) for m in masks]),
        }
        if "ref_calibration_logps" in examples[0]:
            batch["ref_calibration_logps"] = torch.tensor([ex["ref_calibration_logps"] for ex in examples],
                                                          dtype=torch.float64)  # cast to the model dtype at use
        return batch
