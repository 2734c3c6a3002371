"""Where ``VPOTrainer``'s calibration samples come from: one small class per π_cal, registered by name  (theory §5).

A calibration strategy says which data-set columns it adds, prepares them once (tokenizing a column, drawing π_ref
samples, computing their log π_ref), and gives each batch's calibration log-ratios h̃ = log π − log π_ref with their
token counts:

- ``chosen``: the batch's preferred responses (the offline default; with s = −1: DPO plus a supervised term);
- ``behavior``: both responses of each pair (the data-collecting policy μ, when the pairs were drawn from it);
- ``column``: a ``calibration`` column of the data set (one sample per row from the user's π_cal), tokenized by TRL's
  own code path, like ``chosen``;
- ``reference``: one sample per row from π_ref, drawn once when the trainer is built (π_cal = π_ref, the online
  setting of theory §6).

The names are ``vpo_theory.calibration``'s. A new calibration is one class here with ``@calibration("name")``.
``VPOTrainer`` looks its strategy up once and never tests the name again.
"""

from __future__ import annotations

import contextlib

import datasets
import torch
from accelerate.utils import is_peft_model
from tqdm import tqdm

from .environments import generate_completions

__all__ = ["CALIBRATION_STRATEGIES", "CALIBRATION_COLUMNS", "Calibration", "CalibrationCollator", "calibration"]

#: The columns a data set gains for the sampled calibrations (ids, and log π_ref computed once).
CALIBRATION_COLUMNS = ("calibration_prompt_ids", "calibration_ids", "ref_calibration_logps")

#: π_ref samples are drawn with torch's generator seeded at ``seed + REFERENCE_SEED_OFFSET`` inside a forked RNG
#: state: a rebuilt trainer (``resume_from_checkpoint``) draws the same samples, and training's stream is untouched.
REFERENCE_SEED_OFFSET = 7919

_ROW = "vpo_row"  # a row index carried through TRL's tokenization, to join the calibration column back

#: The strategies by name.
CALIBRATION_STRATEGIES: dict[str, type] = {}


def calibration(name: str):
    """Class decorator: register a calibration strategy under ``name`` (a name of ``vpo_theory.calibration``)."""
    def add(cls):
        cls.name = name
        CALIBRATION_STRATEGIES[name] = cls
        return cls

    return add


class Calibration:
    """The batch's own responses as calibration samples: no column, no extra forward."""

    name = ""
    columns: tuple = ()  # data-set columns this strategy adds
    halves = "chosen"  # which of the batch's [chosen; rejected] rows are the samples: "chosen" or "both"

    def prepare(self, trainer, dataset, processing_class, args, dataset_name, tokenize):
        """The data set tokenized (``tokenize``: TRL's preparation); strategies with a column tokenize it too."""
        return tokenize(dataset, processing_class, args, dataset_name)

    def attach(self, trainer, dataset, name: str):
        """What the tokenized data set gains before training (samples, their log π_ref); nothing here."""
        return dataset

    def log_ratio(self, trainer, inputs, calibration_inputs, policy, reference):
        """(h̃ (M,), token counts (M,)) of the batch's calibration samples from TRL's forward passes."""
        mask = inputs["completion_mask"][..., 1:].to(policy.log_probs.dtype)  # (2B, T−1): [chosen; rejected]
        policy_logps = (policy.log_probs[:, -mask.size(1):] * mask).sum(dim=1)  # (2B,) summed log π(y|x)
        if trainer.precompute_ref_logps:
            ref_logps = torch.cat([inputs["ref_chosen_logps"], inputs["ref_rejected_logps"]]).to(policy_logps)
        elif reference is not None:
            ref_logps = (reference.log_probs[:, -mask.size(1):].detach() * mask).sum(dim=1)
        else:  # LoRA with the adapters disabled as the reference: TRL's own reference pass, once more
            ref_logps = torch.cat(trainer.compute_ref_log_probs(trainer.model, inputs)).to(policy_logps)
        log_ratio, counts = policy_logps - ref_logps, mask.sum(dim=1)
        if self.halves == "chosen":
            return log_ratio.chunk(2)[0], counts.chunk(2)[0]
        return log_ratio, counts


@calibration("chosen")
class Chosen(Calibration):
    """π_cal = the empirical distribution of the preferred responses: the batch's chosen half."""


@calibration("behavior")
class Behavior(Calibration):
    """π_cal = μ: both responses of each pair."""

    halves = "both"


@calibration("column")
class Column(Calibration):
    """A ``calibration`` column: the user's samples from π_cal, tokenized like ``chosen``, log π_ref computed once."""

    columns = CALIBRATION_COLUMNS

    def prepare(self, trainer, dataset, processing_class, args, dataset_name, tokenize):
        if not isinstance(dataset, datasets.Dataset):
            raise ValueError(f"vpo_calibration={self.name!r} needs a map-style datasets.Dataset for the "
                             f"{dataset_name} set, got {type(dataset).__name__}")
        if "calibration_ids" in dataset.column_names:  # tokenized already (an online buffer): keep it
            return dataset
        missing = {"prompt", "calibration"} - set(dataset.column_names)
        if missing:
            raise ValueError(f"vpo_calibration='column': the {dataset_name} data set lacks {sorted(missing)}; add a "
                             f"'calibration' column (one sample from π_cal per row, laid out as 'chosen') next to "
                             f"an explicit 'prompt', or choose vpo_calibration='reference'")
        indexed = dataset.add_column(_ROW, list(range(len(dataset))))
        prepared = tokenize(indexed.remove_columns("calibration"), processing_class, args, dataset_name)
        keep = [c for c in ("prompt", "calibration", _ROW, "tools", "chat_template_kwargs")
                if c in dataset.column_names or c == _ROW]
        sibling = indexed.select_columns(keep).rename_column("calibration", "chosen")
        sibling = sibling.add_column("rejected", sibling["chosen"])
        sibling = tokenize(sibling, processing_class, args, f"{dataset_name} calibration")
        by_row = dict(zip(sibling[_ROW], zip(sibling["prompt_ids"], sibling["chosen_ids"])))
        lost = [row for row in prepared[_ROW] if row not in by_row]
        if lost:
            raise ValueError(f"vpo_calibration='column': row {lost[0]} of the {dataset_name} set has a prompt that "
                             f"fills max_length={args.max_length} with its calibration sample; raise max_length or "
                             f"shorten the prompt")
        prepared = prepared.map(lambda row: dict(zip(CALIBRATION_COLUMNS[:2], by_row[row[_ROW]])))
        return prepared.remove_columns(_ROW)

    def attach(self, trainer, dataset, name):
        """Every calibration sample's log π_ref, computed once with TRL's own reference pass (kept where present)."""
        if "ref_calibration_logps" in dataset.column_names:
            return dataset
        batch_size = trainer.args.precompute_ref_batch_size or trainer.args.per_device_train_batch_size
        collate = CalibrationCollator(trainer.data_collator)
        reference = trainer.ref_model if trainer.ref_model is not None else trainer.model
        logps = []
        columns = dataset.select_columns(list(CALIBRATION_COLUMNS[:2]))
        for start in range(0, len(dataset), batch_size):
            chunk = columns[start:start + batch_size]  # {column: list}
            batch = collate.calibration_batch([dict(zip(chunk, row)) for row in zip(*chunk.values())])
            batch = {key: value.to(trainer.accelerator.device) for key, value in batch.items()}
            pair = {"input_ids": batch["calibration_input_ids"], "attention_mask": batch["calibration_attention_mask"],
                    "completion_mask": batch["calibration_completion_mask"]}
            logps.append(torch.cat(trainer.compute_ref_log_probs(reference, pair)).double().cpu())  # TRL's own pass
        return dataset.add_column("ref_calibration_logps", torch.cat(logps).tolist())

    def log_ratio(self, trainer, inputs, calibration_inputs, policy, reference):
        """h̃ (B,): log π from the joint policy forward (the calibration rows ride on TRL's), log π_ref cached."""
        log_probs = policy.extra_log_probs
        if log_probs is None:  # the model was called in a way the joint forward does not cover: a forward of its own
            ids, completion = calibration_inputs["calibration_input_ids"], calibration_inputs["calibration_completion_mask"]
            log_probs = policy.model(input_ids=ids, attention_mask=calibration_inputs["calibration_attention_mask"],
                                     labels=ids.masked_fill(completion == 0, -100), use_cache=False,
                                     fused_lm_head=True).log_probs
        mask = calibration_inputs["calibration_completion_mask"][..., 1:].to(log_probs.dtype)  # (B, T′−1)
        policy_logps = (log_probs[:, -mask.size(1):] * mask).sum(dim=1)  # (B,)
        return policy_logps - calibration_inputs["ref_calibration_logps"].to(policy_logps), mask.sum(dim=1)


@calibration("reference")
class Reference(Column):
    """π_cal = π_ref: one sample per row from π_ref (plain sampling, temperature 1), drawn once when the trainer is
    built, then handled as a column."""

    def prepare(self, trainer, dataset, processing_class, args, dataset_name, tokenize):
        if "calibration_ids" in getattr(dataset, "column_names", ()):  # samples carried with the rows already
            return dataset
        return tokenize(dataset, processing_class, args, dataset_name)

    def attach(self, trainer, dataset, name):
        if not isinstance(dataset, datasets.Dataset):
            raise ValueError(f"vpo_calibration='reference' needs a map-style datasets.Dataset for the {name} set, got "
                             f"{type(dataset).__name__}")
        if "calibration_ids" not in dataset.column_names:
            batch_size = trainer.args.precompute_ref_batch_size or trainer.args.per_device_train_batch_size
            samples = []
            with torch.random.fork_rng(devices=[]):
                torch.manual_seed(trainer.args.seed + REFERENCE_SEED_OFFSET)
                for start in tqdm(range(0, len(dataset), batch_size), desc=f"Sampling π_ref for the {name} set",
                                  disable=trainer.args.disable_tqdm or not trainer.accelerator.is_main_process,
                                  leave=False):
                    samples += _sample_reference(trainer, dataset["prompt_ids"][start:start + batch_size])
            dataset = dataset.add_column("calibration_prompt_ids", dataset["prompt_ids"])
            dataset = dataset.add_column("calibration_ids", samples)
        return super().attach(trainer, dataset, name)


def _sample_reference(trainer, prompts: list[list[int]]) -> list[list[int]]:
    """One completion per prompt from π_ref (``generate_completions``: plain sampling, temperature 1)."""
    reference = trainer.ref_model if trainer.ref_model is not None else trainer.accelerator.unwrap_model(trainer.model)
    adapters = contextlib.nullcontext()
    if trainer.ref_model is None and is_peft_model(reference):
        adapters = reference.disable_adapter()  # LoRA: the base model is π_ref
    with adapters:
        return generate_completions(reference, prompts, pad=trainer.data_collator.pad_token_id,
                                    eos=trainer.processing_class.eos_token_id,
                                    max_new_tokens=trainer.args.vpo_reference_max_new_tokens,
                                    keep_eos=trainer.args.vpo_completion_eos)


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
