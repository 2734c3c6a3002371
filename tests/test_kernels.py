"""The unvalidated formulas of vpo_theory.kernels against independent computations (SciPy, loops, finite
differences, sampling frequencies). The validated wrappers in core are checked against 60-digit references in
test_core.py."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.special import logsumexp as scipy_logsumexp

from vpo_theory import kernels


@settings(max_examples=30, deadline=None)
@given(st.integers(0, 10_000))
def test_logsumexp_matches_scipy_with_minus_infinity_entries(seed):
    rng = np.random.default_rng(seed)
    values = rng.normal(scale=50.0, size=(4, 5, 6))
    values[rng.uniform(size=values.shape) < 0.3] = -np.inf
    values[0, 0, :] = -np.inf  # a row with no mass: log 0
    with np.errstate(divide="ignore"):
        expected = scipy_logsumexp(values, axis=-1)
    np.testing.assert_allclose(kernels.logsumexp(values, axis=-1), expected, rtol=1e-13)


def test_bt_nll_from_counts_equals_the_sum_over_comparisons():
    rng = np.random.default_rng(0)
    r = rng.normal(size=(3, 5))
    x, winner, loser = rng.integers(0, 3, 200), rng.integers(0, 5, 200), rng.integers(0, 5, 200)
    counts = np.zeros((3, 5, 5))
    np.add.at(counts, (x, winner, loser), 1.0)
    loop = sum(np.log1p(np.exp(-(r[a, b] - r[a, c]))) for a, b, c in zip(x, winner, loser))
    assert kernels.bt_nll_counts(r, counts).sum() == pytest.approx(loop, rel=1e-12)
    assert kernels.bt_nll(r, x, winner, loser) == pytest.approx(loop, rel=1e-12)
    # the observed-pairs form the certified search uses: the same ℓ, and its slopes are −∂ℓ/∂m_p
    pairs = np.nonzero(counts)
    margins = r[pairs[0], pairs[1]] - r[pairs[0], pairs[2]]
    value, slopes = kernels.bt_nll_pair_pieces(margins, counts[pairs])
    assert value == pytest.approx(loop, rel=1e-12)
    step = 1e-6
    for p in range(0, len(margins), 7):
        e = np.zeros_like(margins)
        e[p] = step
        numeric = (kernels.bt_nll_pair_pieces(margins + e, counts[pairs])[0]
                   - kernels.bt_nll_pair_pieces(margins - e, counts[pairs])[0]) / (2 * step)
        assert -slopes[p] == pytest.approx(numeric, rel=1e-6, abs=1e-8)


@pytest.mark.parametrize("value_weight", [0.0, 2.5, -1.5])
def test_objective_pieces_gradient_and_hessian_match_finite_differences(value_weight):
    rng = np.random.default_rng(1)
    X, Y = 2, 4
    r = rng.normal(size=(X, Y))
    counts = rng.integers(0, 4, size=(X, Y, Y)).astype(float)
    log_pi_ref = np.log(rng.dirichlet(np.ones(Y), size=X))
    rho, beta = np.array([0.3, 0.7]), 0.7

    def f(flat):
        return kernels.objective_pieces(flat.reshape(X, Y), counts, log_pi_ref, rho, beta, value_weight, False)[0]

    value, grad, hess = kernels.objective_pieces(r, counts, log_pi_ref, rho, beta, value_weight)
    step = 1e-5
    eye = np.eye(X * Y)
    numeric = np.array([(f(r.ravel() + step * e) - f(r.ravel() - step * e)) / (2 * step) for e in eye])
    np.testing.assert_allclose(grad.ravel(), numeric, atol=1e-7)
    for x in range(X):  # the Hessian is block diagonal over contexts
        for a in range(Y):
            e = np.zeros((X, Y))
            e[x, a] = step
            column = (kernels.objective_pieces(r + e, counts, log_pi_ref, rho, beta, value_weight)[1]
                      - kernels.objective_pieces(r - e, counts, log_pi_ref, rho, beta, value_weight)[1]) / (2 * step)
            np.testing.assert_allclose(hess[x, :, a], column[x], atol=1e-6)


def test_optimal_value_pieces_gradient_is_rho_times_the_optimal_policy():
    rng = np.random.default_rng(2)
    r, log_pi_ref = rng.normal(size=(3, 4)), np.log(rng.dirichlet(np.ones(4), size=3))
    rho, beta = rng.dirichlet(np.ones(3)), 0.3
    j_terms, grad, pi = kernels.optimal_value_pieces(r, log_pi_ref, rho, beta)
    assert j_terms.sum() == pytest.approx(kernels.optimal_value(r, log_pi_ref, rho, beta), rel=1e-14)
    np.testing.assert_allclose(pi, kernels.softmax_rows(r / beta + log_pi_ref), rtol=1e-12)  # (I2)
    np.testing.assert_allclose(grad, rho[:, None] * pi, rtol=1e-14)


def test_sample_categorical_draws_with_the_given_frequencies():
    rng = np.random.default_rng(3)
    probabilities = np.array([[0.1, 0.6, 0.3], [0.5, 0.0, 0.5]])
    draws = kernels.sample_categorical(rng, np.repeat(probabilities[:, None, :], 40_000, axis=1))  # (2, 40000)
    for row, p in zip(draws, probabilities):
        frequencies = np.bincount(row, minlength=3) / len(row)
        np.testing.assert_allclose(frequencies, p, atol=4 * np.sqrt(0.25 / len(row)))  # 4σ binomial band
    assert not np.any(draws[1] == 1)  # never a zero-probability response


def test_bradley_terry_wins_at_the_logistic_rate():
    rng = np.random.default_rng(4)
    margin = np.full(100_000, 0.8)
    rate = kernels.bradley_terry_wins(margin, rng.uniform(size=margin.shape)).mean()
    assert rate == pytest.approx(1 / (1 + np.exp(-0.8)), abs=0.005)


def test_mean_form_weight_is_the_sum_form_weight_over_n():
    for scale, n in [(1.0, 100), (0.1, 600), (3.0, 7)]:
        assert kernels.mean_form_weight(scale, n) == pytest.approx(kernels.sum_form_weight(scale, n) / n, rel=1e-14)


def test_backtrack_takes_each_problem_its_own_step():
    """Two independent 1-D quadratics f_i(w) = c_i w²/2 from w = 1 along the Newton direction of a wrong model:
    the Armijo test accepts step 1 for the first and must halve for the second."""
    curvature = np.array([1.0, 8.0])
    start = 0.5 * curvature
    direction = np.array([-1.0, -2.0])  # exact for the first; twice too long for the second
    decrement = -0.5 * (curvature * direction)  # −½ f'·d
    step, accepted, new_value, _ = kernels.backtrack(
        lambda step: (0.5 * curvature * (1 + step * direction) ** 2, None), start, decrement)
    assert accepted.all()
    assert step[0] == 1.0 and step[1] == 0.5
    assert np.all(new_value <= start - kernels.ARMIJO * step * 2 * decrement)
