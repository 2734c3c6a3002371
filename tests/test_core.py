"""Property tests of vpo_theory.core: every function against 60-digit references, identities I1–I7.

Tolerances are relative to the natural scale of each quantity (|J*|, max|r|, β): a wrong
formula (a missing β, a mean for a sum, a dropped log π_ref, an uncalibrated reward) moves
the value by O(scale), far beyond 1e-8·scale.
"""

from __future__ import annotations

import math

import mpmath as mp
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import vpo_theory as vt
from tests import reference
from tests.strategies import instances, random_policy

REL = 1e-8
MANY = settings(max_examples=200, deadline=None)


def _scale(inst) -> float:
    return float(np.abs(inst.r).max() + inst.beta)


# --------------------------------------------------------------------------- against mpmath
@MANY
@given(instances())
def test_optimal_policy_matches_high_precision(inst):
    pi_r = vt.optimal_policy(inst.r, inst.pi_ref, inst.beta)
    expected = reference.optimal_policy(inst.r, inst.pi_ref, inst.beta)
    np.testing.assert_allclose(pi_r, expected, rtol=REL, atol=1e-300)
    np.testing.assert_allclose(pi_r.sum(axis=1), 1.0, rtol=0, atol=1e-12)


def _log_ref_scale(inst) -> float:  # J(r, π) holds β·KL, which grows with |log π_ref|
    return max(_scale(inst), inst.beta * float(np.max(np.abs(np.log(inst.pi_ref)))))


#: name → (ours, its 60-digit reference, the arguments from an instance, the quantity's natural scale)
SCALAR_FUNCTIONS = {
    "optimal_value": (vt.optimal_value, reference.optimal_value_mp,
                      lambda inst: (inst.r, inst.pi_ref, inst.rho, inst.beta), _scale),
    "value": (vt.value, reference.value_mp,
              lambda inst: (inst.r, inst.pi, inst.pi_ref, inst.rho, inst.beta), _log_ref_scale),
    "bt_nll": (vt.bt_nll, reference.bt_nll_mp,
               lambda inst: (inst.r, inst.x, inst.winner, inst.loser), lambda inst: 1e-300),
}


@pytest.mark.parametrize("name", SCALAR_FUNCTIONS)
@MANY
@given(inst=instances())
def test_scalar_function_matches_high_precision(name, inst):
    ours, exact, arguments, scale = SCALAR_FUNCTIONS[name]
    got = ours(*arguments(inst))
    expected = float(exact(*arguments(inst)))
    assert abs(got - expected) <= REL * max(abs(expected), scale(inst))


@MANY
@given(instances())
def test_suboptimality_is_the_high_precision_value_gap(inst):
    """I4: SubOpt = J*(r*) − J(r*, π), computed here by subtracting the two in 60 digits."""
    got = vt.suboptimality(inst.pi, inst.r, inst.pi_ref, inst.rho, inst.beta)
    gap = reference.optimal_value_mp(inst.r, inst.pi_ref, inst.rho, inst.beta) - reference.value_mp(
        inst.r, inst.pi, inst.pi_ref, inst.rho, inst.beta
    )
    assert got >= 0.0
    assert abs(got - float(gap)) <= REL * float(gap) + 1e-14 * _scale(inst)


@MANY
@given(instances(reward_scale=3.0, log10_beta=(-1.0, 1.0)))
def test_implicit_reward_matches_high_precision(inst):
    got = vt.implicit_reward(inst.pi, inst.pi_ref, inst.pi_cal, inst.beta)
    expected = reference.implicit_reward(inst.pi, inst.pi_ref, inst.pi_cal, inst.beta)
    scale = inst.beta * float(np.max(np.abs(np.log(inst.pi) - np.log(inst.pi_ref))) + 1.0)
    np.testing.assert_allclose(got, expected, rtol=0, atol=REL * scale)


@MANY
@given(instances())
def test_calibrate_centres_each_row_under_pi_cal(inst):
    calibrated = vt.calibrate(inst.r, inst.pi_cal)
    for i in range(inst.r.shape[0]):  # loop form of r − E_{π_cal} r
        mean = math.fsum(p * v for p, v in zip(inst.pi_cal[i], inst.r[i]))
        np.testing.assert_allclose(calibrated[i], inst.r[i] - mean, rtol=0, atol=1e-13 * _scale(inst))
    np.testing.assert_allclose((inst.pi_cal * calibrated).sum(axis=1), 0.0, atol=1e-12 * _scale(inst))


# --------------------------------------------------------------------------- identities
@MANY
@given(instances(reward_scale=3.0, log10_beta=(-1.0, 1.0)))
def test_I1_gap_is_beta_times_kl_to_optimal_policy(inst):
    j_star = vt.optimal_value(inst.r, inst.pi_ref, inst.rho, inst.beta)
    j = vt.value(inst.r, inst.pi, inst.pi_ref, inst.rho, inst.beta)
    kl = vt.kl_divergence(inst.pi, vt.optimal_policy(inst.r, inst.pi_ref, inst.beta))
    rhs = inst.beta * inst.rho @ kl
    assert abs((j_star - j) - rhs) <= 1e-10 * (abs(j_star) + abs(j) + _scale(inst))
    assert rhs >= 0
    # zero iff π = π_r
    pi_r = vt.optimal_policy(inst.r, inst.pi_ref, inst.beta)
    assert vt.suboptimality(pi_r, inst.r, inst.pi_ref, inst.rho, inst.beta) <= 1e-12 * _scale(inst)


@MANY
@given(instances(), st.integers(0, 2**32 - 1))
def test_I2_gradient_matches_finite_differences_and_convexity(inst, seed):
    rng = np.random.default_rng(seed)
    grad = inst.rho[:, None] * vt.optimal_policy(inst.r, inst.pi_ref, inst.beta)  # claimed ∂J*/∂r
    direction = rng.normal(size=inst.r.shape)
    step = 1e-4 * inst.beta  # J* has curvature ~1/β: steps scale with β
    f = lambda r: float(reference.optimal_value_mp(r, inst.pi_ref, inst.rho, inst.beta))  # noqa: E731
    # central difference in 60-digit arithmetic: truncation error O(step²/β²) ≈ 1e-8 relative
    fd = (f(inst.r + step * direction) - f(inst.r - step * direction)) / (2 * step)
    analytic = float(np.sum(grad * direction))
    assert abs(fd - analytic) <= 1e-6 * (np.abs(direction).sum() * inst.rho.max())
    # convexity along a random chord
    other = inst.r + rng.normal(size=inst.r.shape) * (np.abs(inst.r).max() + 1)
    other = np.clip(other, -30, 30)
    lam = rng.uniform()
    j = lambda r: vt.optimal_value(r, inst.pi_ref, inst.rho, inst.beta)  # noqa: E731
    assert j(lam * inst.r + (1 - lam) * other) <= lam * j(inst.r) + (1 - lam) * j(other) + 1e-10 * (
        np.abs(inst.r).max() + np.abs(other).max() + inst.beta
    )


@MANY
@given(instances(), st.integers(0, 2**32 - 1))
def test_I3_shift_and_I5_likelihood_invariance(inst, seed):
    shift = np.random.default_rng(seed).uniform(-5, 5, size=inst.r.shape[0])  # c: X → R
    shifted = inst.r + shift[:, None]
    j0 = vt.optimal_value(inst.r, inst.pi_ref, inst.rho, inst.beta)
    j1 = vt.optimal_value(shifted, inst.pi_ref, inst.rho, inst.beta)
    assert abs(j1 - (j0 + inst.rho @ shift)) <= 1e-10 * (abs(j0) + _scale(inst) + 5)
    np.testing.assert_allclose(
        vt.optimal_policy(shifted, inst.pi_ref, inst.beta), vt.optimal_policy(inst.r, inst.pi_ref, inst.beta),
        rtol=1e-8, atol=1e-300,
    )
    l0 = vt.bt_nll(inst.r, inst.x, inst.winner, inst.loser)
    l1 = vt.bt_nll(shifted, inst.x, inst.winner, inst.loser)
    assert abs(l1 - l0) <= 1e-10 * (abs(l0) + len(inst.x) * _scale(inst))


@MANY
@given(instances(reward_scale=3.0, log10_beta=(-1.0, 1.0)))
def test_bijection_between_policies_and_calibrated_rewards(inst):
    r_pi = vt.implicit_reward(inst.pi, inst.pi_ref, inst.pi_cal, inst.beta)
    np.testing.assert_allclose(vt.optimal_policy(r_pi, inst.pi_ref, inst.beta), inst.pi, rtol=1e-9)
    np.testing.assert_allclose((inst.pi_cal * r_pi).sum(axis=1), 0.0, atol=1e-10 * _scale(inst))
    # and back: the implicit reward of π_r is r calibrated
    pi_r = vt.optimal_policy(inst.r, inst.pi_ref, inst.beta)
    if np.all(pi_r > 1e-250):
        np.testing.assert_allclose(
            vt.implicit_reward(pi_r, inst.pi_ref, inst.pi_cal, inst.beta), vt.calibrate(inst.r, inst.pi_cal),
            rtol=0, atol=1e-8 * _scale(inst),
        )


@MANY
@given(instances(reward_scale=3.0, log10_beta=(-1.0, 1.0)), st.floats(0, 50), st.sampled_from([1, -1]))
def test_I6_policy_objective_equals_reward_objective_at_implicit_reward(inst, alpha, sign):
    policy_side = vt.vpo_policy_objective(
        inst.pi, inst.x, inst.winner, inst.loser, inst.pi_ref, inst.pi_cal, inst.rho, inst.beta, alpha, sign
    )
    r_pi = vt.implicit_reward(inst.pi, inst.pi_ref, inst.pi_cal, inst.beta)
    reward_side = vt.vpo_objective(r_pi, inst.x, inst.winner, inst.loser, inst.pi_ref, inst.rho, inst.beta, alpha, sign)
    scale = abs(reward_side) + (alpha + len(inst.x)) * (np.abs(r_pi).max() + inst.beta)
    assert abs(policy_side - reward_side) <= 1e-10 * scale


@MANY
@given(instances(reward_scale=3.0, log10_beta=(-1.0, 1.0)), st.sampled_from([1, -1]))
def test_I7_alpha_zero_is_dpo(inst, sign):
    got = vt.vpo_policy_objective(
        inst.pi, inst.x, inst.winner, inst.loser, inst.pi_ref, inst.pi_cal, inst.rho, inst.beta, 0.0, sign
    )
    dpo = 0.0
    for i, w, l in zip(inst.x, inst.winner, inst.loser):  # −log σ(β[h⁺ − h⁻]) by a plain loop
        margin = inst.beta * (
            math.log(inst.pi[i, w] / inst.pi_ref[i, w]) - math.log(inst.pi[i, l] / inst.pi_ref[i, l])
        )
        dpo += float(mp.log(1 + mp.exp(-margin)))
    assert abs(got - dpo) <= 1e-10 * (abs(dpo) + 1)


@MANY
@given(instances(), st.floats(0.1, 50))
def test_sign_flips_the_value_term(inst, alpha):
    args = (inst.x, inst.winner, inst.loser, inst.pi_ref, inst.rho, inst.beta, alpha)
    optimistic = vt.vpo_objective(inst.r, *args, +1)
    pessimistic = vt.vpo_objective(inst.r, *args, -1)
    j_star = vt.optimal_value(inst.r, inst.pi_ref, inst.rho, inst.beta)
    assert abs((pessimistic - optimistic) - 2 * alpha * j_star) <= 1e-10 * (
        abs(pessimistic) + abs(optimistic) + alpha * _scale(inst)
    )


def test_extreme_ratio_does_not_overflow():
    """r/β = 3e4: the naive exp(r/β) overflows; the stable form gives the exact limit."""
    r = np.array([[30.0, -30.0, 0.0]])
    pi_ref = np.array([[0.2, 0.3, 0.5]])
    beta = 1e-3
    pi_r = vt.optimal_policy(r, pi_ref, beta)
    np.testing.assert_array_equal(pi_r, [[1.0, 0.0, 0.0]])
    j_star = vt.optimal_value(r, pi_ref, [1.0], beta)
    assert j_star == pytest.approx(30.0 + beta * math.log(0.2), rel=1e-14)


def test_suboptimality_of_a_policy_without_full_support():
    rng = np.random.default_rng(0)
    pi_ref = random_policy(rng, (2, 4), temperature=1.0)
    r = rng.normal(size=(2, 4))
    pi = np.array([[1.0, 0.0, 0.0, 0.0], [0.0, 0.5, 0.5, 0.0]])
    rho = np.array([0.3, 0.7])
    expected = float(reference.optimal_value_mp(r, pi_ref, rho, 0.5) - reference.value_mp(r, pi, pi_ref, rho, 0.5))
    assert vt.suboptimality(pi, r, pi_ref, rho, 0.5) == pytest.approx(expected, rel=1e-10)


@MANY
@given(instances(), st.floats(0.1, 10.0), st.floats(-5.0, 5.0))
def test_uncalibrated_optimism_runs_away(inst, alpha, shift):
    """Why VPO calibrates: ℓ is shift-invariant (I5) and J*(r + c) = J*(r) + c
    (I3), so along a constant shift the optimistic objective falls linearly, ℓ − αJ*(r + c) = ℓ − αJ*(r) − αc:
    over an uncalibrated class it has no minimizer, and over a bounded one it runs to the boundary."""
    args = (inst.x, inst.winner, inst.loser, inst.pi_ref, inst.rho, inst.beta)
    base = vt.vpo_objective(inst.r, *args, alpha, +1)
    moved = vt.vpo_objective(inst.r + shift, *args, alpha, +1)
    assert moved == pytest.approx(base - alpha * shift, rel=1e-9, abs=1e-9 * (abs(base) + alpha * abs(shift) + 1))


def test_uncalibrated_optimism_sits_on_the_bound_and_calibrated_does_not():
    """A 3-response bandit: minimizing ℓ − αJ* over the box |r| ≤ R without calibration pushes every
    reward up to the box's top face; the calibrated fit (fit_vpo) stays centred under π_cal."""
    from scipy.optimize import minimize

    rng = np.random.default_rng(0)
    pi_ref, rho = np.array([[0.5, 0.3, 0.2]]), np.array([1.0])
    prefs = vt.sample_preferences(rng, rho, pi_ref, np.array([[0.0, 0.4, 0.8]]), 40)
    beta, alpha, bound = 0.5, 4.0, 2.0
    objective = lambda r: vt.vpo_objective(r.reshape(1, 3), *prefs.astuple(), pi_ref, rho, beta, alpha, +1)  # noqa: E731
    best = min((minimize(objective, start, method="L-BFGS-B", bounds=[(-bound, bound)] * 3)
                for start in rng.uniform(-bound, bound, size=(8, 3))), key=lambda result: result.fun)
    assert best.x.max() == pytest.approx(bound, abs=1e-6)  # ran to the boundary
    calibrated = vt.fit_vpo(vt.Problem(pi_ref, rho, beta), prefs, alpha=alpha, sign=+1, pi_cal=pi_ref, bound=bound)
    assert abs(float(pi_ref[0] @ calibrated.reward[0])) <= 1e-9  # centred under π_cal
    assert pi_ref[0] @ best.x > 0.5 * bound  # the uncalibrated estimate's level drifted up by most of R
