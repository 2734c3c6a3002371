"""Config fields: each documented once (its help becomes ``--help``), each checked by the package's one set of
validators (``vpo_theory.validation``): every bad value is refused with its name and the fix."""

from __future__ import annotations

from vpo_theory.options import field_help, option  # noqa: F401  (re-exported: the configs' one field helper)
from vpo_theory.validation import positive_int, positive_scalar

__all__ = ["option", "field_help", "check_fields"]


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
