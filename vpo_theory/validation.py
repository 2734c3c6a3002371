"""Input checks shared by every public function of ``vpo_theory``.

Each check raises ``ValueError`` (wrong value) or ``TypeError`` (wrong kind of object) with a
message that names the argument and says what would fix it. Nothing here computes
mathematics; it only refuses inputs on which the mathematics is undefined, so that a bad
input never becomes a silent NaN further down.
"""

from __future__ import annotations

import numbers

import numpy as np

#: Absolute tolerance on ``|sum_y pi(y|x) - 1|`` for every policy row and on ``sum rho - 1``.
#: Entries must be >= 0 exactly (no tolerance: a negative probability is a bug upstream).
DISTRIBUTION_ATOL = 1e-6


def as_array(name: str, value, *, ndim: int) -> np.ndarray:
    """``value`` as a finite float64 array with ``ndim`` dimensions."""
    if isinstance(value, (str, bytes)) or value is None:
        raise TypeError(f"`{name}` must be a numeric array with {ndim} dimension(s), got {type(value).__name__}")
    try:
        array = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError) as error:
        raise TypeError(f"`{name}` must be a numeric array with {ndim} dimension(s): {error}") from None
    if array.ndim != ndim:
        raise ValueError(
            f"`{name}` must have {ndim} dimension(s), got shape {array.shape}; "
            f"reshape it (e.g. a single context is shape (1, Y))"
        )
    if array.size == 0:
        raise ValueError(f"`{name}` is empty (shape {array.shape}); it needs at least one entry per axis")
    if not np.isfinite(array).all():  # (ndarray methods: the estimators call this per fit, on tiny arrays)
        bad = np.argwhere(~np.isfinite(array))[0]
        raise ValueError(f"`{name}` has a non-finite entry at index {tuple(int(i) for i in bad)}; all entries must be finite")
    return array


def positive_scalar(name: str, value, *, allow_zero: bool = False) -> float:
    """A finite real scalar, > 0 (or >= 0 with ``allow_zero``)."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        if isinstance(value, np.ndarray) and value.ndim == 0:
            value = value.item()
        else:
            raise TypeError(f"`{name}` must be a real number, got {type(value).__name__}")
    value = float(value)
    if not np.isfinite(value):
        raise ValueError(f"`{name}` must be finite, got {value}")
    if allow_zero and value < 0:
        raise ValueError(f"`{name}` must be >= 0, got {value}")
    if not allow_zero and value <= 0:
        raise ValueError(f"`{name}` must be > 0, got {value}")
    return value


def positive_int(name: str, value, *, allow_zero: bool = False) -> int:
    """A whole number > 0 (or >= 0 with ``allow_zero``); floats with a fraction and booleans are refused."""
    whole = isinstance(value, numbers.Integral) or (isinstance(value, numbers.Real) and float(value).is_integer())
    if isinstance(value, bool) or not whole or value < (0 if allow_zero else 1):
        raise ValueError(f"`{name}` must be a {'non-negative' if allow_zero else 'positive'} integer, got {value!r}")
    return int(value)


def check_sign(sign) -> int:
    """+1 (optimism) or -1 (pessimism); anything else is an error."""
    if isinstance(sign, bool) or not isinstance(sign, numbers.Real) or sign not in (1, -1):
        raise ValueError(f"`sign` must be +1 (optimistic, online) or -1 (pessimistic, offline), got {sign!r}")
    return int(sign)


def check_distribution(name: str, value, *, shape: tuple[int, ...] | None = None, ndim: int = 2) -> np.ndarray:
    """A policy table (X, Y) whose rows are distributions, or ``rho`` (X,)."""
    array = as_array(name, value, ndim=ndim)
    if shape is not None and array.shape != shape:
        raise ValueError(f"`{name}` has shape {array.shape} but must have shape {shape} to match the other arguments")
    if array.min() < 0:
        bad = np.argwhere(array < 0)[0]
        raise ValueError(f"`{name}` has a negative probability at index {tuple(int(i) for i in bad)}; probabilities must be >= 0")
    worst = float(abs(array.sum(axis=-1) - 1.0).max())
    if worst > DISTRIBUTION_ATOL:
        where = "each row of " if ndim == 2 else ""
        raise ValueError(
            f"{where}`{name}` must sum to 1 (tolerance {DISTRIBUTION_ATOL:g}); the worst sum is off by {worst:.3g}; "
            f"normalize it, e.g. {name} / {name}.sum(axis=-1, keepdims=True)"
        )
    return array


def check_full_support(name: str, pi: np.ndarray) -> None:
    """Every response must have positive probability (log pi must be finite)."""
    if pi.min() <= 0:
        bad = np.argwhere(pi <= 0)[0]
        raise ValueError(
            f"`{name}` must give every response positive probability (full support); entry "
            f"{tuple(int(i) for i in bad)} is 0; mix in a little uniform mass, e.g. (1 - eps) * {name} + eps / Y"
        )


def check_support_inside(name: str, pi: np.ndarray, outer_name: str, outer: np.ndarray) -> None:
    """supp(pi) must lie inside supp(outer)."""
    outside = (pi > 0) & (outer <= 0)
    if outside.any():
        bad = np.argwhere(outside)[0]
        raise ValueError(
            f"`{name}` puts mass on response {tuple(int(i) for i in bad)} where `{outer_name}` has none; "
            f"its support must lie inside the support of `{outer_name}`"
        )


def check_problem(pi_ref, rho, beta, features=None):
    """(π_ref (X, Y) of full support, ρ (X,), β > 0, features (X, Y, d) or None), each checked by name."""
    pi_ref = check_distribution("pi_ref", pi_ref)
    check_full_support("pi_ref", pi_ref)
    rho = check_distribution("rho", rho, shape=(pi_ref.shape[0],), ndim=1)
    beta = positive_scalar("beta", beta)
    if features is not None:
        features = as_array("features", features, ndim=3)
        if features.shape[:2] != pi_ref.shape:
            raise ValueError(f"`features` must have shape (X, Y, d) with (X, Y) = {pi_ref.shape}, got {features.shape}")
    return pi_ref, rho, beta, features


def check_shape(name: str, array: np.ndarray, shape: tuple[int, ...]) -> None:
    if array.shape != shape:
        raise ValueError(f"`{name}` has shape {array.shape} but must have shape {shape} to match the other arguments")


def check_preferences(x, winner, loser, *, num_contexts: int, num_responses: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Three equal-length 1-D integer index arrays, each index in range.

    Empty data is allowed (the likelihood of no data is 0), and so is ``winner == loser``
    (a tie of a response with itself contributes the constant log 2, as under policy-policy
    sampling when both draws coincide).
    """
    arrays = []
    for name, value, upper in (("x", x, num_contexts), ("winner", winner, num_responses), ("loser", loser, num_responses)):
        if value is None or isinstance(value, (str, bytes)):
            raise TypeError(f"`{name}` must be a 1-D array of integer indices, got {type(value).__name__}")
        array = np.asarray(value)
        if array.ndim != 1:
            raise ValueError(f"`{name}` must be a 1-D array of indices, got shape {array.shape}")
        if array.dtype != np.int64 and array.size:
            if array.dtype.kind in "iu":
                array = array.astype(np.int64)
            elif array.dtype.kind == "f" and np.isfinite(array).all() and (array == np.round(array)).all():
                array = array.astype(np.int64)
            else:
                raise TypeError(f"`{name}` must hold integer indices, got dtype {array.dtype}")
        array = array.astype(np.int64, copy=False)
        if array.size and (array.min() < 0 or array.max() >= upper):
            raise ValueError(f"`{name}` has an index outside [0, {upper}); indices must address the (X, Y) tables")
        arrays.append(array)
    if not (len(arrays[0]) == len(arrays[1]) == len(arrays[2])):
        raise ValueError(
            f"`x`, `winner` and `loser` must have equal length (one entry per comparison), got "
            f"{len(arrays[0])}, {len(arrays[1])} and {len(arrays[2])}"
        )
    return arrays[0], arrays[1], arrays[2]


def check_option_numbers(options, names) -> None:
    """Options given as numbers must be real numbers (None allowed): a TypeError naming the option otherwise."""
    import numbers

    for name in names:
        value = getattr(options, name)
        if value is not None and (isinstance(value, bool) or not isinstance(value, numbers.Real)):
            raise TypeError(f"option `{name}` must be a number, got {type(value).__name__} {value!r}")
