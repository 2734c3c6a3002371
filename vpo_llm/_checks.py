"""Field checks shared by the config dataclasses: every bad value is refused with its name and the fix."""

from __future__ import annotations

import math
import numbers


def check_fields(config, *, positive_ints=(), nonnegative_ints=(), positive=(), nonnegative=(), choices=None,
                 booleans=()) -> None:
    """Raise ValueError (TypeError for a wrong type) naming the first bad field of ``config``.

    positive_ints: integers ≥ 1; nonnegative_ints: integers ≥ 0; positive / nonnegative: finite reals
    > 0 / ≥ 0 (None allowed where the field's default is None); choices: {field: allowed values};
    booleans: fields that must be True or False.
    """
    for name in positive_ints + nonnegative_ints:
        value = getattr(config, name)
        minimum = 1 if name in positive_ints else 0
        if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < minimum:
            raise ValueError(f"`{name}` must be an integer >= {minimum}, got {value!r}")
    for name in positive + nonnegative:
        value = getattr(config, name)
        if value is None and type(config).__dataclass_fields__[name].default is None:
            continue
        if isinstance(value, bool) or not isinstance(value, numbers.Real):
            raise TypeError(f"`{name}` must be a real number, got {type(value).__name__}")
        if not math.isfinite(value):
            raise ValueError(f"`{name}` must be finite, got {value}")
        if value < 0 or (value == 0 and name in positive):
            raise ValueError(f"`{name}` must be {'> 0' if name in positive else '>= 0'}, got {value}")
    for name, allowed in (choices or {}).items():
        if getattr(config, name) not in allowed:
            raise ValueError(f"`{name}` must be one of {tuple(allowed)}, got {getattr(config, name)!r}")
    for name in booleans:
        if not isinstance(getattr(config, name), bool):
            raise TypeError(f"`{name}` must be True or False, got {getattr(config, name)!r}")
