"""Bad inputs to every core function are refused with a message naming the argument."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import vpo_theory as vt

R = np.array([[0.5, -1.0, 0.2], [1.0, 0.0, -0.3]])
PI = np.array([[0.2, 0.3, 0.5], [0.6, 0.2, 0.2]])
PI_REF = np.array([[1 / 3, 1 / 3, 1 / 3], [0.5, 0.25, 0.25]])
RHO = np.array([0.4, 0.6])
X, W, L = np.array([0, 1]), np.array([0, 2]), np.array([1, 0])


def call(name, **overrides):
    kwargs = {
        "optimal_policy": dict(r=R, pi_ref=PI_REF, beta=0.5),
        "optimal_value": dict(r=R, pi_ref=PI_REF, rho=RHO, beta=0.5),
        "value": dict(r=R, pi=PI, pi_ref=PI_REF, rho=RHO, beta=0.5),
        "suboptimality": dict(pi=PI, r_true=R, pi_ref=PI_REF, rho=RHO, beta=0.5),
        "bt_nll": dict(r=R, x=X, winner=W, loser=L),
        "calibrate": dict(r=R, pi_cal=PI),
        "implicit_reward": dict(pi=PI, pi_ref=PI_REF, pi_cal=PI, beta=0.5),
        "vpo_objective": dict(r=R, x=X, winner=W, loser=L, pi_ref=PI_REF, rho=RHO, beta=0.5, alpha=1.0, sign=1),
        "vpo_policy_objective": dict(
            pi=PI, x=X, winner=W, loser=L, pi_ref=PI_REF, pi_cal=PI, rho=RHO, beta=0.5, alpha=1.0, sign=-1
        ),
    }[name]
    kwargs.update(overrides)
    return getattr(vt, name)(**kwargs)


FUNCTIONS = ["optimal_policy", "optimal_value", "value", "suboptimality", "bt_nll", "calibrate",
             "implicit_reward", "vpo_objective", "vpo_policy_objective"]


@pytest.mark.parametrize("name", FUNCTIONS)
def test_good_inputs_pass(name):
    result = call(name)
    assert np.all(np.isfinite(result))


def _cases():
    nan_r = R.copy()
    nan_r[0, 1] = np.nan
    not_normalized = PI_REF * 1.1
    negative = PI.copy()
    negative[0] = [-0.1, 0.6, 0.5]
    zero_ref = np.array([[0.0, 0.5, 0.5], [0.5, 0.25, 0.25]])
    cases = [
        # (function, overrides, argument named in the message, exception)
        ("optimal_policy", dict(r=nan_r), "r", ValueError),
        ("optimal_policy", dict(r=R[0]), "r", ValueError),
        ("optimal_policy", dict(r="abc"), "r", TypeError),
        ("optimal_policy", dict(beta=0.0), "beta", ValueError),
        ("optimal_policy", dict(beta=-1.0), "beta", ValueError),
        ("optimal_policy", dict(beta=np.inf), "beta", ValueError),
        ("optimal_policy", dict(beta="1"), "beta", TypeError),
        ("optimal_policy", dict(pi_ref=not_normalized), "pi_ref", ValueError),
        ("optimal_policy", dict(pi_ref=zero_ref), "pi_ref", ValueError),
        ("optimal_policy", dict(pi_ref=PI_REF[:, :2]), "pi_ref", ValueError),
        ("optimal_value", dict(rho=np.array([0.5, 0.6])), "rho", ValueError),
        ("optimal_value", dict(rho=np.array([1.0])), "rho", ValueError),
        ("value", dict(pi=negative), "pi", ValueError),
        ("value", dict(pi=PI.T), "pi", ValueError),
        ("suboptimality", dict(r_true=nan_r), "r_true", ValueError),
        ("bt_nll", dict(x=np.array([0, 2])), "x", ValueError),
        ("bt_nll", dict(winner=np.array([0, 3])), "winner", ValueError),
        ("bt_nll", dict(loser=np.array([-1, 0])), "loser", ValueError),
        ("bt_nll", dict(loser=np.array([1])), "equal length", ValueError),
        ("bt_nll", dict(x=np.array([0.5, 1.0])), "x", TypeError),
        ("calibrate", dict(pi_cal=not_normalized), "pi_cal", ValueError),
        ("implicit_reward", dict(pi=np.array([[0.0, 0.5, 0.5], [0.5, 0.25, 0.25]])), "pi", ValueError),
        ("implicit_reward", dict(beta=0), "beta", ValueError),
        ("vpo_objective", dict(sign=0), "sign", ValueError),
        ("vpo_objective", dict(sign=2), "sign", ValueError),
        ("vpo_objective", dict(sign=True), "sign", ValueError),
        ("vpo_objective", dict(alpha=-0.1), "alpha", ValueError),
        ("vpo_objective", dict(alpha=np.nan), "alpha", ValueError),
        ("vpo_policy_objective", dict(sign=0.5), "sign", ValueError),
        ("vpo_policy_objective", dict(pi_cal=PI[:1]), "pi_cal", ValueError),
    ]
    return cases


@pytest.mark.parametrize("name,overrides,argument,error", _cases())
def test_bad_input_is_refused_with_the_argument_named(name, overrides, argument, error):
    with pytest.raises(error) as info:
        call(name, **overrides)
    assert argument in str(info.value)


@settings(max_examples=100, deadline=None)
@given(
    st.sampled_from(FUNCTIONS),
    st.sampled_from(["r", "pi", "pi_ref", "pi_cal", "rho", "r_true"]),
    st.sampled_from([np.nan, np.inf, -np.inf, -0.5, 2.0]),
    st.integers(0, 5),
)
def test_any_corrupted_table_entry_is_refused(name, argument, bad, index):
    """Corrupt one entry of one table argument: the call must raise, never return NaN."""
    defaults = {"r": R, "pi": PI, "pi_ref": PI_REF, "pi_cal": PI, "rho": RHO, "r_true": R}
    import inspect

    if argument not in inspect.signature(getattr(vt, name)).parameters:
        return
    corrupted = defaults[argument].copy()
    corrupted.flat[index % corrupted.size] = bad
    if argument in ("r", "r_true") and np.isfinite(bad):
        return  # any finite reward is valid
    with pytest.raises((ValueError, TypeError)) as info:
        call(name, **{argument: corrupted})
    assert argument in str(info.value)


def test_empty_preferences_give_zero_likelihood():
    empty = np.array([], dtype=int)
    assert vt.bt_nll(R, empty, empty, empty) == 0.0
