"""Preference data in TRL's layout (``prompt`` / ``chosen`` / ``rejected``, text or chat messages) for a user's
own model: checked line by line (errors name the option, the file, the line and the field), then loaded as a
memory-mapped ``datasets.Dataset`` that ``VPOTrainer`` tokenizes and batches as TRL does."""

from __future__ import annotations

import json
from pathlib import Path



__all__ = ["json_lines", "read_jsonl", "located_rows", "load_prompts", "check_preference_file",
           "load_preference_dataset"]


def json_lines(path, field: str):
    """Yield (where, value) for each non-blank line of a JSON-lines file, streaming (the file is never held in
    memory); ``where`` is "FILE line N". A missing file or a line that is not JSON is an error naming ``field`` (the
    option that gave the file), the file and the line."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"`{field}`: {path} does not exist; pass a JSONL file (one JSON object per line)")
    with path.open(encoding="utf-8") as lines:
        for number, line in enumerate(lines, start=1):
            if not line.strip():
                continue
            try:
                value = json.loads(line)
            except json.JSONDecodeError as error:
                raise ValueError(f"`{field}`: {path} line {number} is not valid JSON ({error.msg} at column "
                                 f"{error.colno}); each line must be one JSON object") from None
            yield f"{path} line {number}", value


def read_jsonl(path, field: str) -> list[tuple[str, dict]]:
    """The rows of a JSON-lines file as (where, row) pairs (``json_lines``), each checked to be an object."""
    rows = []
    for where, row in json_lines(path, field):
        if not isinstance(row, dict):
            raise ValueError(f"`{field}`: {where} is a JSON {type(row).__name__}, not an object")
        rows.append((where, row))
    return rows


def located_rows(source, field: str, *, first: int = 0) -> list[tuple[str, dict]]:
    """(where, row) pairs from a JSONL path (``read_jsonl``) or any iterable of rows (a ``datasets.Dataset``):
    "FILE line N" or "row N" (counted from ``first``), for messages that point at the bad row."""
    if isinstance(source, (str, Path)):
        return read_jsonl(source, field)
    return [(f"row {i}", row) for i, row in enumerate(source, start=first)]


def load_prompts(source) -> list[str]:
    """Prompts from a JSONL file or any iterable of rows (e.g. a ``datasets.Dataset``), each with a
    "prompt" text (TRL's prompt-only layout)."""
    prompts = []
    for where, row in located_rows(source, "prompts", first=1):
        if not isinstance(row, dict) or not isinstance(row.get("prompt"), str):
            raise ValueError(f"`prompts`: {where} has no text field 'prompt'")
        prompts.append(row["prompt"])
    if not prompts:
        raise ValueError("`prompts` holds no prompts")
    return prompts


def _is_messages(value) -> bool:
    """A conversational field: a non-empty list of {"role", "content"} messages (TRL's conversational layout)."""
    return isinstance(value, list) and bool(value) and all(
        isinstance(m, dict) and isinstance(m.get("role"), str) and "content" in m for m in value)


def _check_row(row, where: str, field: str, required: tuple[str, ...]) -> None:
    if not isinstance(row, dict):
        raise ValueError(f"`{field}`: {where} is a JSON {type(row).__name__}, not an object")
    missing = [key for key in required if key not in row]
    if missing:
        raise ValueError(f"`{field}`: {where} lacks {missing}; rows need {list(required)} (TRL's layout: text, "
                         f"or lists of {{role, content}} messages)")
    for key in required:
        value = row[key]
        if isinstance(value, str):
            continue  # text; an empty completion is legal: TRL appends EOS, so it is the response that ends at once
        if not _is_messages(value):
            raise TypeError(f"`{field}`: {where}: `{key}` must be text or a list of {{role, content}} messages, "
                            f"got {type(value).__name__}")


def check_preference_file(path, *, field: str = "dataset", required=("prompt", "chosen", "rejected")) -> int:
    """Check a JSONL preference file line by line without holding it in memory; return its row count.

    Every problem is an error naming ``field``, the file, the line and the key: a line that is not JSON, a row that
    is not an object, a missing ``prompt``/``chosen``/``rejected`` (or ``calibration`` when required), a value that
    is neither text nor a list of messages. An empty completion is legal (the response that ends at once: TRL appends
    EOS), whether a policy produced it online or a file holds it.
    """
    count = 0
    for where, row in json_lines(path, field):
        _check_row(row, where, field, tuple(required))
        count += 1
    if not count:
        raise ValueError(f"`{field}`: {path} holds no rows")
    return count


def load_preference_dataset(path, *, field: str = "dataset", required=("prompt", "chosen", "rejected")):
    """A checked JSONL file as a ``datasets.Dataset`` (memory-mapped Arrow: rows stay on disk, so memory does not
    grow with the file), ready for ``VPOTrainer`` / ``DPOTrainer``."""
    import datasets

    check_preference_file(path, field=field, required=required)
    return datasets.load_dataset("json", data_files=str(path), split="train")
