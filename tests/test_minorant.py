"""The quadratic minorants of the ball class (vpo_theory.certified.minorant) and the certificates built on them.

Expected values come from elsewhere: the objective written out directly, random points of each region, an
SLSQP solve of the constrained quadratic from many starts, a many-start search of the ball.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from scipy.optimize import minimize
from scipy.special import logsumexp

import vpo_theory as vt
from vpo_theory import certified
from vpo_theory.certified import minorant as _minorant
from vpo_theory.certified.objective import Objective

from tests.strategies import random_linear_problem


def _linear(dimension: int, num_pairs: int, seed: int, *, alpha: float = 2.0, beta: float = 0.5):
    """A random linear problem (5 contexts × 6 responses, features N(0, I/d)): the Problem, counts, centred features,
    and the certified module's objective with the centred features as its basis (so w = θ)."""
    problem, counts, centred = random_linear_problem(dimension, num_pairs, seed, num_contexts=5, num_responses=6,
                                                     beta=beta)
    pi_ref = problem.pi_ref
    objective = Objective(centred, counts, np.log(pi_ref), problem.rho, beta, alpha, 0.0)
    return problem, counts, centred, objective


def _direct(theta, centred, counts, problem, alpha):
    """ℓ − α·J* written out directly (not through the package's kernels)."""
    r = centred @ theta
    nll = float(np.sum(counts * np.logaddexp(0.0, -(r[:, :, None] - r[:, None, :]))))
    return nll - alpha * problem.beta * float(problem.rho @ logsumexp(r / problem.beta, b=problem.pi_ref, axis=1))


def _in_region(rng, centre, radius, bound, size):
    u = rng.normal(size=(size, len(centre)))
    u *= radius * rng.random((size, 1)) ** (1 / len(centre)) / np.linalg.norm(u, axis=1, keepdims=True)
    points = centre + u
    return points[np.sum(points**2, axis=1) <= bound**2]


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 10_000), dimension=st.sampled_from([2, 3, 5, 8]), num_pairs=st.sampled_from([0, 10, 200]),
       radius=st.sampled_from([0.05, 0.5, 2.0, 8.0]), alpha=st.sampled_from([0.5, 4.0]), beta=st.sampled_from([0.1, 1.0]))
def test_the_minorant_lies_below_the_objective_on_its_region(seed, dimension, num_pairs, radius, alpha, beta):
    """q(w) ≤ f(w) at random points of {‖w − c‖ ≤ ρ, ‖w‖ ≤ R}, and q matches f to second order at c."""
    bound = 3.0
    _, _, _, objective = _linear(dimension, num_pairs, seed, alpha=alpha, beta=beta)
    rng = np.random.default_rng(seed)
    centre = rng.normal(size=dimension)
    centre *= bound * rng.random() / np.linalg.norm(centre)
    values, grads, hessians = _minorant.quadratic_minorants(objective, centre[None], np.array([radius]), bound)
    assert values[0] == pytest.approx(float(objective.value(centre)), rel=1e-12)
    points = _in_region(rng, centre, radius, bound, 3000)
    step = points - centre
    quadratic = values[0] + step @ grads[0] + 0.5 * np.einsum("nk,kl,nl->n", step, hessians[0], step)
    assert np.all(quadratic <= objective.value(points) + 1e-9 * (1 + np.abs(quadratic)))
    exact = objective.hessian(centre)  # the minorant's curvature is below the Hessian at its anchor
    assert np.linalg.eigvalsh(exact - hessians[0])[0] >= -1e-9 * (1 + np.abs(exact).max())


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 10_000), dimension=st.sampled_from([2, 4, 8, 16]), num_pairs=st.sampled_from([0, 5, 50]),
       log10_beta=st.floats(-3.0, 0.0), peak=st.sampled_from([1.0, 5.0, 20.0]), bound=st.sampled_from([1.0, 2.0, 8.0]),
       radius=st.sampled_from([0.01, 0.1, 1.0, 16.0]), alpha=st.sampled_from([0.5, 4.0, 20.0]))
def test_the_minorant_holds_in_floating_point_at_small_beta_and_peaked_policies(seed, dimension, num_pairs, log10_beta,
                                                                                peak, bound, radius, alpha):
    """q ≤ f where the Bennett matrix meets rounding: β down to 1e-3, π_ref masses down to 1e-9 (logits spread by
    up to 20), anchors near the sphere of a ball up to B = 8, up to 16 dimensions. Formed uncentred, the anchor's
    covariance cancelled to rounding noise (or NaN) and g(S/β) up to e⁷⁰⁰ multiplied it: q then lay above f."""
    rng = np.random.default_rng(seed)
    X, Y, beta = 3, 6, 10.0**log10_beta
    features = rng.normal(size=(X, Y, dimension)) / np.sqrt(dimension)
    logits = rng.normal(size=(X, Y)) * peak
    pi_ref = np.maximum(np.exp(logits - logits.max(axis=1, keepdims=True)), 1e-9)
    pi_ref /= pi_ref.sum(axis=1, keepdims=True)
    counts = np.zeros((X, Y, Y))
    for _ in range(num_pairs):
        counts[rng.integers(X), *rng.choice(Y, 2, replace=False)] += 1
    centred = features - np.einsum("xy,xyd->xd", pi_ref, features)[:, None, :]
    objective = Objective(centred, counts, np.log(pi_ref), np.full(X, 1 / X), beta, alpha, 0.0)
    centre = rng.normal(size=dimension)
    centre *= bound * rng.uniform(0.5, 1.0) / np.linalg.norm(centre)
    with np.errstate(over="raise", invalid="raise"):  # no overflow, no NaN on the way
        values, grads, hessians = _minorant.quadratic_minorants(objective, centre[None], np.array([radius]), bound)
    assert np.all(np.isfinite(hessians))
    points = _in_region(rng, centre, radius, bound, 2000)
    step = points - centre
    quadratic = values[0] + step @ grads[0] + 0.5 * np.einsum("nk,kl,nl->n", step, hessians[0], step)
    exact = objective.value(points)
    assert np.all(quadratic <= exact + 1e-9 * (1 + np.abs(exact)))


@pytest.mark.parametrize("seed", range(12))
def test_the_dual_bound_is_below_the_constrained_minimum_of_the_quadratic(seed):
    """min q over {‖w − c‖ ≤ ρ, ‖w‖ ≤ R} by SLSQP from 30 starts: the dual bound is never above it. Where one ball
    holds the other (the trust-region problem: no duality gap) it is equal within 1e-6; where both constrain, a
    nonconvex q can leave a duality gap (the bound stays valid, only looser)."""
    rng = np.random.default_rng(seed)
    k, bound = 4, 4.0
    _, _, _, objective = _linear(k, [0, 20, 300][seed % 3], seed)
    centre = rng.normal(size=k)
    centre *= rng.uniform(0, bound) / np.linalg.norm(centre)
    shape = ["inside", "holds", "both"][seed % 3 if seed < 9 else 2]
    radius = {"inside": 0.9 * (bound - np.linalg.norm(centre)), "holds": bound + np.linalg.norm(centre),
              "both": [1.0, 3.0][seed % 2]}[shape]
    values, grads, hessians = _minorant.quadratic_minorants(objective, centre[None], np.array([radius]), bound)
    dual = _minorant.ball_pair_minimum(values, grads, hessians, centre[None], np.array([radius]), bound)[0]

    def quadratic(w):
        return values[0] + (w - centre) @ grads[0] + 0.5 * (w - centre) @ hessians[0] @ (w - centre)

    constraints = [{"type": "ineq", "fun": lambda w: radius**2 - np.sum((w - centre) ** 2)},
                   {"type": "ineq", "fun": lambda w: bound**2 - w @ w}]
    best = np.inf
    for start in _in_region(rng, centre, radius, bound, 60)[:30]:
        result = minimize(quadratic, start, method="SLSQP", constraints=constraints, options={"ftol": 1e-13})
        if np.sum((result.x - centre) ** 2) <= radius**2 * (1 + 1e-7) and result.x @ result.x <= bound**2 * (1 + 1e-7):
            best = min(best, float(result.fun))
    assert dual <= best + 1e-7 * (1 + abs(best))
    if shape != "both":
        assert dual >= best - 1e-6 * (1 + abs(best))


def _ball_search(function, dimension, bound, rng, starts=40):
    """Many-start SLSQP over the ball ‖θ‖ ≤ B: an independent estimate of the global minimum (an upper bound)."""
    best = np.inf
    for _ in range(starts):
        start = rng.normal(size=dimension)
        start *= bound * rng.random() ** (1 / dimension) / np.linalg.norm(start)
        result = minimize(function, start, method="SLSQP", options={"ftol": 1e-14, "maxiter": 500},
                          constraints=[{"type": "ineq", "fun": lambda t: bound**2 - t @ t, "jac": lambda t: -2 * t}])
        if result.x @ result.x <= bound**2 * (1 + 1e-9):
            best = min(best, float(result.fun))
    return best


@pytest.mark.parametrize("dimension, seed", [(8, 0), pytest.param(8, 1, marks=pytest.mark.slow), (16, 2)])  # ~10 s each
def test_the_whole_class_certificate_closes_in_high_dimension_once_the_data_suffice(dimension, seed):
    """With a few thousand comparisons the whole-class check alone (no branch and bound: max_cells=1) certifies the
    optimistic step in 8 and 16 dimensions — the interval Hessian bound it replaced never closed there (the least
    Bradley–Terry weight over ‖θ‖ ≤ B is e^{−B·‖d‖}-small) — and the answer agrees with a many-start search."""
    problem, counts, centred, _ = _linear(dimension, 4000, seed)
    alpha, bound = 4.0, 4.0
    fit = vt.fit_vpo(problem, counts, alpha=alpha, sign=+1, pi_cal=problem.pi_ref, bound=bound, max_cells=1)
    function = lambda theta: _direct(theta, centred, counts, problem, alpha)  # noqa: E731
    searched = _ball_search(function, dimension, bound, np.random.default_rng(seed))
    assert fit.certified and fit.cells == 1
    assert fit.objective == pytest.approx(function(fit.theta), rel=1e-9)
    assert fit.objective <= searched + 1e-9 * (1 + abs(searched))
    assert fit.objective >= searched - 1e-6 * (1 + abs(searched))


@pytest.mark.parametrize("num_pairs", [0, 30, 300])
def test_the_whole_class_bound_is_valid_when_it_does_not_close(num_pairs):
    """Few data in 8 dimensions: the fit is flagged uncertified, and its lower bound is below the objective at random
    points of the ball and below a many-start search's best."""
    problem, counts, centred, _ = _linear(8, num_pairs, 3)
    alpha, bound = 4.0, 4.0
    fit = vt.fit_vpo(problem, counts, alpha=alpha, sign=+1, pi_cal=problem.pi_ref, bound=bound, max_cells=1)
    function = lambda theta: _direct(theta, centred, counts, problem, alpha)  # noqa: E731
    rng = np.random.default_rng(num_pairs)
    points = _in_region(rng, np.zeros(8), bound, bound, 3000)
    assert fit.lower_bound <= min(function(theta) for theta in points) + 1e-12
    assert fit.lower_bound <= _ball_search(function, 8, bound, rng, starts=10) + 1e-12
    assert fit.certified == (fit.gap <= 1e-8 * (1 + abs(fit.objective)))


def test_a_reused_partition_continues_the_search_with_a_fresh_budget():
    """An online round that runs out of cells hands its leaves to the next; the next round's budget counts its own
    work, so the search goes on (it used to count the carried leaves and stop at once, so a linear run that missed
    once never certified again) and, round after round, closes."""
    problem, counts, centred, _ = _linear(3, 5, 4, alpha=6.0, beta=0.25)
    block, _ = vt.block_solvers.linear_block(problem.features, counts, problem.pi_ref, np.log(problem.pi_ref),
                                             problem.rho, problem.beta, 0.0, 4.0)
    arguments = dict(weight=6.0, kind="ball", bound=4.0, max_cells=40, batch=8)
    solution, partition = certified.certified_minimize(block.basis, counts, block.log_pi_ref, block.rho, block.beta,
                                                       **arguments)
    assert not solution.certified
    gaps = [solution.gap]
    for _ in range(300):
        solution, partition = certified.certified_minimize(block.basis, counts, block.log_pi_ref, block.rho, block.beta,
                                                           partition=partition, starts=[solution.w], **arguments)
        assert solution.cells > 0 and solution.gap <= gaps[-1] + 1e-12
        gaps.append(solution.gap)
        if solution.certified:
            break
    assert solution.certified


def test_a_search_that_runs_out_reports_at_least_the_whole_class_bound():
    """Branch and bound stopped by its budget reports max(its leaves' least bound, the whole-class bound): a coarse
    partition of eight dimensions must not report a worse certificate than the check made before it started."""
    problem, counts, _, _ = _linear(8, 300, 0, alpha=4.0)
    whole = vt.fit_vpo(problem, counts, alpha=4.0, sign=+1, pi_cal=problem.pi_ref, bound=4.0, max_cells=1)
    searched = vt.fit_vpo(problem, counts, alpha=4.0, sign=+1, pi_cal=problem.pi_ref, bound=4.0, max_cells=300)
    assert searched.lower_bound >= whole.lower_bound - 1e-9 * (1 + abs(whole.lower_bound))
    assert searched.lower_bound <= searched.objective
