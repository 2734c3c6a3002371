"""The online learners (theory §6, "Baselines"): each one's defining rule on a case computed here by hand or by an
independent route, the independent random streams, and every learner on every instance class."""

from __future__ import annotations

import numpy as np
import pytest

import vpo_theory as vt
from vpo_theory.learners import LEARNERS, Run, register
from vpo_theory.learners.confidence import MaxInP
from vpo_theory.learners.plugin import Greedy
from vpo_theory.online import OnlineOptions, run_online


def _run(instance, T=10, seed=0, bound=None, **options) -> Run:
    opts = OnlineOptions(**options)
    return Run(instance, opts, T, instance.pi_ref, bound or instance.class_bound, np.random.default_rng(seed))


# ----------------------------------------------------------------------------- random streams
def test_a_learner_that_draws_random_numbers_sees_the_same_data():
    """Greedy that also draws from its own stream every round (as Thompson sampling does) plays greedy's policies,
    so with independent streams it sees greedy's data and has greedy's regret, exactly. Through one shared stream
    the extra draws would shift every later draw of the data."""

    class NoisyGreedy(Greedy):
        def policy(self, counts, t):
            self.run.rng.random(7)  # randomness of its own, never used
            return super().policy(counts, t)

    LEARNERS["noisy-greedy"] = NoisyGreedy
    try:
        for name in ("tabular-trap", "linear-d8"):
            instance = vt.make_instance(name, 0)
            plain = run_online(instance, "greedy", 30, 4)
            noisy = run_online(instance, "noisy-greedy", 30, 4)
            np.testing.assert_array_equal(noisy.regret, plain.regret)
    finally:
        del LEARNERS["noisy-greedy"]


def test_learners_with_the_same_policies_see_the_same_pairs():
    """The data stream's uniforms pick the pair by inverse CDF: two learners with the same policies at a round draw
    the same context and responses there (reference and oracle differ in policy, the context draw stays common)."""
    instance = vt.make_instance("tabular-small", 0)
    contexts = {}
    for name in ("reference", "oracle", "greedy"):
        seen = []
        original = LEARNERS[name].observed

        def record(self, x, first, second, first_wins, t, seen=seen, original=original):
            seen.append(x)
            return original(self, x, first, second, first_wins, t)

        LEARNERS[name].observed = record
        try:
            run_online(instance, name, 25, 9)
        finally:
            LEARNERS[name].observed = original
        contexts[name] = seen
    assert contexts["reference"] == contexts["oracle"] == contexts["greedy"]


# ----------------------------------------------------------------------------- each rule
def test_greedy_plays_the_plugin_of_the_exact_mle():
    instance = vt.make_instance("tabular-small", 2)
    counts = vt.pair_counts(*vt.sample_preferences(np.random.default_rng(0), instance.rho, instance.pi_ref,
                                                   instance.reward, 80).astuple(), num_contexts=5, num_responses=6)
    learner = LEARNERS["greedy"](_run(instance))
    fit = vt.fit_mle(instance, counts, pi_cal=instance.pi_ref, bound=instance.class_bound)
    np.testing.assert_allclose(learner.policy(counts, 1), fit.policy, atol=1e-7)


def test_xpo_with_the_exact_expectation_is_vpo_at_the_matching_weight():
    """XPO's term over samples n_s with n_s = t·ρ·π_ref (the exact expectation) has the same minimizer as VPO with
    s = +1, π_cal = π_ref and α = w·t (w = c/√T, the term's weight): theory §6, Baselines."""
    instance = vt.make_instance("tabular-trap", 3)
    counts = vt.pair_counts(*vt.sample_preferences(np.random.default_rng(1), instance.rho, instance.pi_ref,
                                                   instance.reward, 40).astuple(), num_contexts=4, num_responses=6)
    T, t, c = 400, 40, 0.3
    learner = LEARNERS["xpo"](_run(instance, T=T, xpo_scale=c))
    learner.samples = t * instance.rho[:, None] * instance.pi_ref  # the exact expectation of t draws
    total, rho, linear = learner.weights(t)
    np.testing.assert_allclose(rho, instance.rho)
    problem, bound = vt.Problem(instance.pi_ref, rho, instance.beta), instance.class_bound
    xpo = vt.fit_vpo(problem, counts, alpha=total, sign=+1, pi_cal=instance.pi_ref, bound=bound, linear=linear)
    vpo = vt.fit_vpo(instance, counts, alpha=c / np.sqrt(T) * t, sign=+1, pi_cal=instance.pi_ref, bound=bound)
    assert xpo.certified and vpo.certified
    np.testing.assert_allclose(xpo.reward, vpo.reward, atol=1e-8)
    assert xpo.objective == pytest.approx(vpo.objective, abs=1e-8)


def test_xpo_counts_its_reference_samples_and_selm_the_policys_response():
    instance = vt.make_instance("tabular-small", 0)
    xpo, selm = LEARNERS["xpo"](_run(instance)), LEARNERS["selm"](_run(instance))
    for learner in (xpo, selm):
        learner.observed(2, 4, 1, True, 1)  # context 2: y¹ = 4 (from π_t), y² = 1 (from π_ref under policy-ref)
    assert xpo.samples[2, 1] == 1 and xpo.samples.sum() == 1  # XPO: the π_ref sample
    assert selm.samples[2, 4] == 1 and selm.samples.sum() == 1  # SELM: the policy's own response
    other = LEARNERS["xpo"](_run(instance, scheme="policy-policy"))  # no π_ref draw in the pair: one of its own
    other.observed(2, 4, 1, True, 1)
    assert other.samples[2].sum() == 1


def test_the_linear_term_changes_the_certified_step_by_its_gradient():
    """fit_vpo with a linear term c equals a brute-force minimization of ℓ + ⟨c, r⟩ − α·J* on a fine grid of one
    context's calibrated plane (three responses: two coordinates)."""
    pi_ref = np.array([[0.5, 0.3, 0.2]])
    problem = vt.Problem(pi_ref, np.ones(1), 0.5)
    counts = np.zeros((1, 3, 3))
    counts[0, 0, 1], counts[0, 1, 2] = 3, 2
    linear = np.array([[0.4, -0.3, 0.1]])
    fit = vt.fit_vpo(problem, counts, alpha=1.5, sign=+1, pi_cal=pi_ref, bound=1.0, linear=linear)
    basis = np.linalg.svd(pi_ref)[2][1:].T  # (3, 2) orthonormal, π_ref·basis = 0
    grid = np.linspace(-2, 2, 801)
    w = np.stack(np.meshgrid(grid, grid), -1).reshape(-1, 2)
    r = w @ basis.T
    r = r[np.abs(r).max(axis=1) <= 1.0]
    nll = np.sum(counts[0][None] * np.logaddexp(0, -(r[:, :, None] - r[:, None, :])), axis=(1, 2))
    j_star = 0.5 * np.log(np.exp(r / 0.5) @ pi_ref[0])
    values = nll + r @ linear[0] - 1.5 * j_star
    assert fit.certified and fit.objective <= values.min() + 1e-9
    assert fit.objective == pytest.approx(values.min(), abs=5e-3)  # the grid's resolution


def test_thompson_with_scale_zero_is_greedy_and_its_no_data_draws_have_the_prior_spread():
    instance = vt.make_instance("tabular-small", 0)
    assert np.array_equal(run_online(instance, "ts", 15, 2, ts_scale=0.0).regret,
                          run_online(instance, "greedy", 15, 2).regret)
    # no data: the posterior is the prior N(0, B²I) on the calibrated plane, scaled: Var r_y = (sB)²(1 − p_y²) with
    # p = π_cal/‖π_cal‖ (the plane's projector is I − ppᵀ); s = 0.05 keeps every draw inside the class
    scale, bound = 0.05, instance.class_bound
    learner = LEARNERS["ts"](_run(instance, ts_scale=scale))
    draws = np.array([learner._tabular_draw(np.zeros((5, 6, 6)), np.zeros((5, 6)))[0] for _ in range(4000)])
    p = instance.pi_ref[0] / np.linalg.norm(instance.pi_ref[0])
    np.testing.assert_allclose(draws.var(axis=0), (scale * bound) ** 2 * (1 - p**2), rtol=0.1)
    np.testing.assert_allclose(draws @ instance.pi_ref[0], 0.0, atol=1e-9)  # calibrated


def test_maxinp_compares_the_most_uncertain_pair_of_plausible_responses():
    """One context, three responses, one-hot features: response 2 lost all of its 800 comparisons, so responses 0
    and 1 beat it on every reward of the confidence set; of the plausible {0, 1} the only pair is (0, 1)."""
    pi_ref = np.full((1, 3), 1 / 3)
    instance = vt.BanditInstance(np.ones(1), pi_ref, np.array([[0.5, 0.0, -0.5]]), 0.5, bound=2.0)
    learner = MaxInP(_run(instance, c_gamma=0.01))
    counts = np.zeros((1, 3, 3))
    counts[0, 0, 2] = counts[0, 1, 2] = 400.0  # 0 and 1 beat 2 every time
    counts[0, 0, 1], counts[0, 1, 0] = 1.0, 1.0  # 0 and 1: one win each
    learner.policy(counts, 803)
    assert learner.pair(0, np.array([0.5, 0.5]), None, 803) in [(0, 1), (1, 0)]
    # with no data every response is plausible and every pair equally uncertain (Σ = λI): the first pair, (0, 1)
    fresh = MaxInP(_run(instance, c_gamma=0.01))
    fresh.policy(np.zeros((1, 3, 3)), 1)
    assert fresh.pair(0, np.array([0.5, 0.5]), None, 1) == (0, 1)


def test_mixed_samples_from_the_reference_then_from_the_first_stage_plugin():
    instance = vt.make_instance("tabular-small", 0)
    learner = LEARNERS["mixed"](_run(instance, T=20, mixed_fraction=0.25))
    stage_one = np.full((5, 6), 1 / 6)
    assert all(np.array_equal(dist, instance.pi_ref) for dist in learner.sampling(stage_one, 5))  # t ≤ 5: π_ref²
    first, second = learner.sampling(stage_one, 6)
    assert np.array_equal(first, stage_one) and np.array_equal(second, instance.pi_ref)
    later = learner.sampling(np.full((5, 6), 0.2 / 6) + 0.8 * np.eye(6)[:5], 15)[0]
    assert np.array_equal(later, stage_one)  # frozen at the first stage's plug-in


def test_ucb_uses_the_regret_multiplier_and_ucb_coverage_the_coverage_one():
    instance = vt.make_instance("tabular-small", 0)
    assert LEARNERS["ucb"](_run(instance)).c_gamma == vt.DEFAULT_UCB_C_GAMMA["tabular"]
    assert LEARNERS["ucb-coverage"](_run(instance)).c_gamma == vt.DEFAULT_C_GAMMA["tabular"]


# ----------------------------------------------------------------------------- every learner runs
@pytest.mark.parametrize("name", sorted(set(LEARNERS) - {"oracle"}))
@pytest.mark.parametrize("instance_name", ["tabular-trap", "linear-d8"])
def test_every_learner_runs_on_both_classes(name, instance_name):
    result = run_online(vt.make_instance(instance_name, 0), name, 6, 1)
    assert result.regret.shape == (6,) and np.all(result.suboptimality >= 0) and np.all(np.isfinite(result.regret))
    if name in ("vpo", "xpo", "selm"):
        assert result.certificate["method"] == "certified"


def test_register_refuses_a_name_twice():
    with pytest.raises(ValueError, match="twice"):
        register("greedy")(Greedy)
