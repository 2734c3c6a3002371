"""Config fields: each documented once (its help becomes ``--help``), each checked by the package's one set of
validators (``vpo_theory.validation``): every bad value is refused with its name and the fix."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

from vpo_theory.validation import positive_int, positive_scalar

__all__ = ["option", "field_help", "check_fields", "RunFields", "PreferenceLossFields"]


def option(default: Any = dataclasses.MISSING, help: str = "", *, factory=dataclasses.MISSING):  # noqa: A002
    """A dataclass field with its help text in ``metadata["help"]`` (the command line's ``--help``)."""
    return dataclasses.field(default=default, default_factory=factory, metadata={"help": help})


def field_help(cls) -> dict[str, str]:
    """{field name: help text} of a config dataclass built with ``option``."""
    return {item.name: item.metadata.get("help", "") for item in dataclasses.fields(cls)}


def check_fields(config, *, positive_ints=(), nonnegative_ints=(), positive=(), nonnegative=(), choices=None,
                 booleans=()) -> None:
    """Raise ValueError (TypeError for a wrong type) naming the first bad field of ``config``.

    positive_ints: integers ≥ 1; nonnegative_ints: integers ≥ 0; positive / nonnegative: finite reals
    > 0 / ≥ 0 (None allowed where the field's default is None); choices: {field: allowed values};
    booleans: fields that must be True or False.
    """
    for name in positive_ints + nonnegative_ints:
        value = getattr(config, name)
        if isinstance(value, float):  # a config's counts are whole numbers by type, not just by value
            raise ValueError(f"`{name}` must be an integer, got {value!r}")
        positive_int(name, value, allow_zero=name in nonnegative_ints)
    for name in positive + nonnegative:
        value = getattr(config, name)
        if value is None and type(config).__dataclass_fields__[name].default is None:
            continue
        positive_scalar(name, value, allow_zero=name in nonnegative)
    for name, allowed in (choices or {}).items():
        if getattr(config, name) not in allowed:
            raise ValueError(f"`{name}` must be one of {tuple(allowed)}, got {getattr(config, name)!r}")
    for name in booleans:
        if not isinstance(getattr(config, name), bool):
            raise TypeError(f"`{name}` must be True or False, got {getattr(config, name)!r}")


@dataclass
class RunFields:
    """The fields every training config shares (each config's own fields follow them)."""

    grad_accumulation: int = option(1, "micro-batches per optimizer step")
    weight_decay: float = option(0.0, "AdamW weight decay")
    seed: int = option(0, "seed of the data, sampling, labels and initialization")
    device: str = option("cpu", '"cpu" or "cuda"')
    out_dir: str = option("", 'run folder (metrics.jsonl, config.json, checkpoint.pt); "" → no files')
    resume: bool = option(True, "continue from out_dir/checkpoint.pt when present")
    skip_nonfinite: bool = option(False, "a non-finite loss or gradient: skip that step (counted) instead of stopping")


@dataclass
class PreferenceLossFields(RunFields):
    """The loss fields of the offline trainers (built-in task and local data): VPO's sign, weight and pooling."""

    loss: str = option("vpo", '"vpo", "dpo" or "ipo"')
    sign: int = option(-1, "VPO's sign: −1 pessimism (offline); +1 optimism")
    alpha_scale: float = option(1.0, "VPO weight: sum-form α = alpha_scale·√N, mean-form a = α/N")
    cal_normalization: str = option("sum", '"sum" (theory-exact, theory §5) or "token_mean" (as TRL\'s sft loss pools)')
