"""Config fields: each documented once (its help becomes ``--help``) and checked by the rule declared beside it, with
the package's one set of validators (``vpo_theory.validation``): every bad value is refused with its name and the fix.

A field says what it accepts where it is declared::

    steps: int = option(200, "optimizer steps", check=at_least(1))
    beta: float | None = option(None, "KL strength β", check=positive)   # None allowed: the default is None

and ``check_fields(config)`` applies every field's rule: its ``check``, its ``choices``, and True/False for a ``bool``
field. TRL's configs keep their metadata to ``help`` alone (``HfArgumentParser`` hands the metadata to argparse), so
they declare with ``help_field`` and pass their rules to ``check_fields`` by name.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, Mapping

from vpo_theory.options import option as _documented_field
from vpo_theory.validation import positive_int, positive_scalar

__all__ = ["option", "help_field", "check_fields", "at_least", "positive", "nonnegative", "unit_interval",
           "one_of", "redefault", "AtLeast", "Real", "OneOf"]


@dataclass(frozen=True)
class AtLeast:
    """A whole number ≥ ``minimum`` (floats, even whole ones, and booleans refused: counts are integers by type)."""

    minimum: int
    why: str = ""  # the reason for a minimum above 1, said in the message

    def __call__(self, name: str, value) -> None:
        if isinstance(value, float):
            raise ValueError(f"`{name}` must be an integer, got {value!r}")
        positive_int(name, value, allow_zero=self.minimum <= 0)
        if value < self.minimum:
            why = f" ({self.why})" if self.why else ""
            raise ValueError(f"`{name}` must be >= {self.minimum}{why}, got {value}")


@dataclass(frozen=True)
class Real:
    """A finite real number > 0 (≥ 0 with ``allow_zero``), and ≤ ``maximum`` when one is given."""

    allow_zero: bool = False
    maximum: float | None = None

    def __call__(self, name: str, value) -> None:
        value = positive_scalar(name, value, allow_zero=self.allow_zero)
        if self.maximum is not None and value > self.maximum:
            low = "[0" if self.allow_zero else "(0"
            raise ValueError(f"`{name}` must be in {low}, {self.maximum:g}], got {value}")


@dataclass(frozen=True)
class OneOf:
    """One of the listed values."""

    allowed: tuple

    def __call__(self, name: str, value) -> None:
        if value not in self.allowed:
            raise ValueError(f"`{name}` must be one of {self.allowed}, got {value!r}")


def at_least(minimum: int, why: str = "") -> AtLeast:
    return AtLeast(minimum, why)


def one_of(*allowed) -> OneOf:
    return OneOf(tuple(allowed))


positive = Real()
nonnegative = Real(allow_zero=True)
unit_interval = Real(maximum=1.0)  # (0, 1], e.g. nucleus sampling's top_p


def option(default: Any = dataclasses.MISSING, help: str = "", *, check=None, choices=None,  # noqa: A002
           factory=dataclasses.MISSING):
    """``vpo_theory.options.option`` (help text and allowed values) with the field's ``check``."""
    documented = _documented_field(default, help, choices=choices, factory=factory)
    metadata = dict(documented.metadata) | ({"check": check} if check is not None else {})
    return dataclasses.field(default=default, default_factory=factory, metadata=metadata)


def help_field(default: Any, help: str):  # noqa: A002
    """A TRL config's field: its metadata is its help alone (``HfArgumentParser`` passes metadata to argparse)."""
    return dataclasses.field(default=default, metadata={"help": help})


def redefault(config_class, name: str, default: Any):
    """``config_class``'s field ``name`` with another default and the same metadata: a subclass changes a default
    without writing the field's help again."""
    inherited = {item.name: item for item in dataclasses.fields(config_class)}[name]
    return dataclasses.field(default=default, metadata=inherited.metadata)


def check_fields(config, checks: Mapping[str, Any] | None = None) -> None:
    """Raise ValueError (TypeError for a wrong type) naming the first bad field of the dataclass ``config``.

    Each field is checked by its ``check``, its ``choices`` and, for a ``bool`` field, True/False; a field whose
    default is None may be None. With ``checks`` ({name: rule}: TRL's configs) only those fields, by those rules.
    """
    if checks is not None:
        for name, rule in checks.items():
            rule(name, getattr(config, name))
        return
    for item in dataclasses.fields(config):
        value = getattr(config, item.name)
        if value is None and item.default is None:
            continue
        if "check" in item.metadata:
            item.metadata["check"](item.name, value)
        if "choices" in item.metadata:
            OneOf(item.metadata["choices"])(item.name, value)
        if item.type in ("bool", bool) and not isinstance(value, bool):
            raise TypeError(f"`{item.name}` must be True or False, got {value!r}")
