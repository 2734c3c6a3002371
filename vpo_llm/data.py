"""Preference data in TRL's layout (``prompt`` / ``chosen`` / ``rejected``) for a user's own model.

Rows come from a JSONL file (one object per line) or a ``datasets.Dataset``; texts are
tokenized with the model's tokenizer into prompt ⊕ completion rows with a completion mask —
the same layout ``DPOTrainer`` builds — and the reference log-probs are computed once.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import torch

from .logprobs import sequence_logps

__all__ = ["PreferenceRows", "load_preference_rows", "tokenize_pairs"]


@dataclass
class PreferenceRows:
    prompt: list[str]
    chosen: list[str]
    rejected: list[str]
    calibration: list[str] | None = None  # optional user column: one sample from π_cal per row

    def __len__(self) -> int:
        return len(self.prompt)


def read_jsonl(path, field: str) -> list[tuple[str, dict]]:
    """The rows of a JSON-lines file as (where, row) pairs — ``where`` is "FILE line N" for messages — skipping
    blank lines. ``field`` names the option that gave the file (its errors name it, the file and the line)."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"`{field}`: {path} does not exist; pass a JSONL file (one JSON object per line)")
    rows = []
    for number, line in enumerate(path.read_text().splitlines(), start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as error:
            raise ValueError(f"`{field}`: {path} line {number} is not valid JSON ({error.msg} at column "
                             f"{error.colno}); each line must be one JSON object") from None
        if not isinstance(row, dict):
            raise ValueError(f"`{field}`: {path} line {number} is a JSON {type(row).__name__}, not an object")
        rows.append((f"{path} line {number}", row))
    return rows


def located_rows(source, field: str, *, first: int = 0) -> list[tuple[str, dict]]:
    """(where, row) pairs from a JSONL path (``read_jsonl``) or any iterable of rows (a ``datasets.Dataset``):
    "FILE line N" or "row N" (counted from ``first``), for messages that point at the bad row."""
    if isinstance(source, (str, Path)):
        return read_jsonl(source, field)
    return [(f"row {i}", row) for i, row in enumerate(source, start=first)]


def load_preference_rows(source) -> PreferenceRows:
    """Rows from a JSONL path or any iterable of dicts (e.g. a ``datasets.Dataset``) with text fields
    ``prompt``, ``chosen``, ``rejected``."""
    located = located_rows(source, "dataset")
    rows = [row for _, row in located]
    if not rows:
        raise ValueError("the preference data set is empty")
    for where, row in located:
        missing = {"prompt", "chosen", "rejected"} - set(row)
        if missing:
            raise ValueError(f"`dataset`: {where} lacks {sorted(missing)}; rows need 'prompt', 'chosen' and "
                             f"'rejected' (TRL layout)")
        for key in ("prompt", "chosen", "rejected"):
            if not isinstance(row[key], str):
                raise TypeError(f"`dataset`: {where}: `{key}` must be text (conversational rows: apply the chat "
                                f"template first)")
            if key != "prompt" and not row[key].strip():
                raise ValueError(f"`dataset`: {where}: `{key}` is an empty completion")
    calibration = [r["calibration"] for r in rows] if all("calibration" in r for r in rows) else None
    return PreferenceRows([r["prompt"] for r in rows], [r["chosen"] for r in rows], [r["rejected"] for r in rows],
                          calibration)


def tokenize_pairs(tokenizer, prompts: list[str], completions: list[str], *, max_length: int = 512):
    """Right-padded (input_ids, attention_mask, completion_mask), each (B, T); EOS appended to completions."""
    rows, masks = [], []
    for prompt, completion in zip(prompts, completions):
        prompt_ids = tokenizer(prompt, add_special_tokens=False)["input_ids"]
        completion_ids = tokenizer(completion, add_special_tokens=False)["input_ids"]
        if tokenizer.eos_token_id is not None:
            completion_ids = completion_ids + [tokenizer.eos_token_id]
        ids = (prompt_ids + completion_ids)[:max_length]
        if len(prompt_ids) == 0 or len(ids) <= len(prompt_ids):
            raise ValueError(f"prompt {prompt!r} is empty or leaves no room for its completion within max_length")
        rows.append(ids)
        masks.append([0] * len(prompt_ids) + [1] * (len(ids) - len(prompt_ids)))
    length = max(len(r) for r in rows)
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0
    input_ids = torch.tensor([r + [pad] * (length - len(r)) for r in rows])
    attention = torch.tensor([[1] * len(r) + [0] * (length - len(r)) for r in rows])
    completion = torch.tensor([m + [0] * (length - len(m)) for m in masks])
    return input_ids, attention, completion


@torch.no_grad()
def reference_logps(reference, input_ids, attention_mask, completion_mask, *, batch_size: int = 16) -> torch.Tensor:
    """log π_ref of every row, computed once (the reference is frozen), (B,)."""
    out = [sequence_logps(reference, input_ids[i:i + batch_size], attention_mask[i:i + batch_size],
                          completion_mask[i:i + batch_size]) for i in range(0, len(input_ids), batch_size)]
    return torch.cat(out)
