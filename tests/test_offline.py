"""Offline theory: data, instances, baselines, run_offline, rates (theory §3, §7, §8)."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats
from scipy.special import expit

import vpo_theory as vt
from vpo_theory.cvx import fit_vpo_cvxpy
from vpo_theory.data import empirical_chosen_policy, sample_preferences
from paper_repro.rates import check_power_law, fit_loglog_slope


# --------------------------------------------------------------------------- data
def test_bradley_terry_labels_have_the_right_frequency():
    reward = np.array([[0.0, 1.0]])
    prefs = sample_preferences(np.random.default_rng(0), [1.0], [[0.5, 0.5]], reward, 40000)
    distinct = prefs.winner != prefs.loser
    wins = np.mean(prefs.winner[distinct] == 1)
    expected = expit(1.0)
    assert abs(wins - expected) < 4 * np.sqrt(expected * (1 - expected) / distinct.sum())


def test_pair_counts_equal_a_loop():
    rng = np.random.default_rng(1)
    x, w, l = rng.integers(0, 3, 50), rng.integers(0, 4, 50), rng.integers(0, 4, 50)
    counts = vt.pair_counts(x, w, l, num_contexts=3, num_responses=4)
    loop = np.zeros((3, 4, 4))
    for i, a, b in zip(x, w, l):
        loop[i, a, b] += 1
    np.testing.assert_array_equal(counts, loop)
    # the likelihood from counts equals the one from the raw comparisons
    fit_counts = vt.fit_vpo(vt.Problem(np.full((3, 4), 0.25), np.full(3, 1 / 3), 1.0), counts, alpha=1.0, sign=-1, pi_cal=np.full((3, 4), 0.25))
    assert fit_counts.nll == pytest.approx(vt.bt_nll(fit_counts.reward, x, w, l), rel=1e-12)


def test_chosen_calibration_falls_back_to_reference_without_data():
    pi_ref = np.array([[0.5, 0.5, 0.0 + 1e-9], [0.2, 0.3, 0.5 - 1e-9]])
    pi_ref /= pi_ref.sum(axis=1, keepdims=True)
    chosen = empirical_chosen_policy(np.array([0, 0, 0]), np.array([2, 2, 1]), pi_ref)
    np.testing.assert_allclose(chosen[0], [0, 1 / 3, 2 / 3])
    np.testing.assert_allclose(chosen[1], pi_ref[1])


# --------------------------------------------------------------------------- instances
def test_named_instances_are_valid_and_seeded():
    for name in vt.list_instances():
        a, b = vt.make_instance(name, seed=4), vt.make_instance(name, seed=4)
        np.testing.assert_array_equal(a.reward, b.reward)
        assert a.name == name and a.description
        if not a.is_linear:  # (a linear class bounds ‖θ‖, not |r|)
            assert a.reward_bound >= np.abs(vt.calibrate(a.reward, a.pi_ref)).max() - 1e-12
    assert not np.array_equal(vt.make_instance("tabular-small", 0).reward, vt.make_instance("tabular-small", 1).reward)
    with pytest.raises(ValueError, match="unknown instance"):
        vt.make_instance("nope")


def test_instance_validation():
    pi_ref = np.full((2, 3), 1 / 3)
    with pytest.raises(ValueError, match="theta"):
        vt.BanditInstance([0.5, 0.5], pi_ref, None, 1.0, features=np.ones((2, 3, 2)))
    with pytest.raises(ValueError, match="features @ theta"):
        vt.BanditInstance([0.5, 0.5], pi_ref, np.zeros((2, 3)), 1.0, features=np.ones((2, 3, 2)), theta=[1.0, 0.0])
    with pytest.raises(ValueError, match="beta"):
        vt.BanditInstance([0.5, 0.5], pi_ref, np.zeros((2, 3)), 0.0)
    with pytest.raises(ValueError, match="rho"):
        vt.BanditInstance([0.5, 0.6], pi_ref, np.zeros((2, 3)), 1.0)
    with pytest.raises(ValueError, match="behaviors"):
        vt.BanditInstance([0.5, 0.5], pi_ref, np.zeros((2, 3)), 1.0, behaviors={"bad": np.ones((2, 3))})
    linear = vt.BanditInstance([0.5, 0.5], pi_ref, None, 1.0, features=np.ones((2, 3, 2)), theta=[1.0, 2.0])
    np.testing.assert_allclose(linear.reward, 3.0)


def test_every_named_instance_declares_a_class_with_the_truth_strictly_inside():
    for name in vt.list_instances():
        for seed in range(20):
            instance = vt.make_instance(name, seed)
            assert instance.bound is not None and instance.reward_bound < instance.bound, (name, seed)
            # the calibrated truth is inside the tabular class for every calibration (range ≥ |r − E_π r|)
            if not instance.is_linear:
                assert np.abs(vt.calibrate(instance.reward, instance.pi_ref)).max() < instance.bound


def test_a_declared_class_must_hold_the_truth():
    pi_ref = np.full((1, 3), 1 / 3)
    with pytest.raises(ValueError, match="strictly inside"):
        vt.BanditInstance([1.0], pi_ref, np.array([[0.0, 0.5, 1.0]]), 1.0, bound=1.0)  # range 1 = B: on the edge
    with pytest.raises(ValueError, match="strictly inside"):
        vt.BanditInstance([1.0], pi_ref, None, 1.0, features=np.eye(3)[None, :, :2], theta=[3.0, 4.0], bound=5.0)
    with pytest.raises(ValueError, match="bound"):
        vt.BanditInstance([1.0], pi_ref, np.zeros((1, 3)), 1.0, bound=-1.0)
    assert vt.BanditInstance([1.0], pi_ref, np.array([[0.0, 0.5, 1.0]]), 1.0, bound=1.5).class_bound == 1.5


def test_the_linear_family_holds_the_feature_scale_and_the_class_fixed_in_d():
    for d in vt.LINEAR_DIMENSIONS:
        instance = vt.make_instance(f"linear-d{d}", 0)
        assert instance.features.shape == (10, 8, d) and instance.bound == 4.0
        assert np.linalg.norm(instance.theta) == pytest.approx(2.0, rel=1e-12)
        # ‖φ‖² averages 1 whatever d (entries N(0, 1/d)): within sampling error over the 80 feature vectors
        assert np.mean(np.sum(instance.features**2, axis=-1)) == pytest.approx(1.0, abs=4 * np.sqrt(2 / (80 * d)))


# --------------------------------------------------------------------------- baselines
def test_lcb_with_zero_radius_is_the_mle_plug_in():
    instance = vt.make_instance("tabular-small", 0)
    data = sample_preferences(np.random.default_rng(0), instance.rho, instance.pi_ref, instance.reward, 300)
    fit = vt.fit_mle(vt.Problem(instance.pi_ref, instance.rho, instance.beta), data, pi_cal=instance.pi_ref, bound=2.0)
    features = vt.one_hot_features(*instance.pi_ref.shape)
    confidence = vt.confidence_set(*data.astuple(), features, fit.reward.ravel(), c_gamma=0.0, delta=0.05,
                                   ridge=0.01, theta_bound=1.0, margin_bound=1.0)
    policy = vt.lcb_policy(confidence, features, instance.pi_ref, instance.rho, instance.beta, instance.pi_ref)
    assert 0.5 * np.abs(policy - fit.policy).sum(axis=1).max() <= 1e-6


def test_lcb_is_more_conservative_as_the_radius_grows():
    """A larger Γ shrinks ‖v(π)‖ (the uncertain direction) — towards π_cal, where v = 0."""
    instance = vt.make_instance("linear-d8", 0)
    centred = vt.center_features(instance.features, instance.behavior("good"))
    sizes = []
    for c in (0.0, 0.0003, 0.001, 0.01):
        policy = vt.run_offline(instance, "lcb", 200, 0, c_gamma=c, behavior="good").policy
        sizes.append(np.linalg.norm(np.einsum("x,xy,xyd->d", instance.rho, policy, centred)))
    assert sizes[0] > sizes[1] > sizes[2] >= sizes[3] - 1e-7


def test_confidence_distance_and_ucb_bonus_match_explicit_formulas():
    rng = np.random.default_rng(2)
    features = rng.normal(size=(2, 3, 4))
    x, w, l = rng.integers(0, 2, 30), rng.integers(0, 3, 30), rng.integers(0, 3, 30)
    theta_hat = rng.normal(size=4)
    conf = vt.confidence_set(x, w, l, features, theta_hat, c_gamma=0.5, delta=0.1, ridge=0.2, theta_bound=2.0,
                             margin_bound=1.5)
    z = features[x, w] - features[x, l]
    precision = sum(np.outer(v, v) for v in z) / len(z) + 0.2 * np.eye(4)
    theta = rng.normal(size=4)
    assert conf.distance(theta) == pytest.approx(np.sqrt((theta - theta_hat) @ precision @ (theta - theta_hat)))
    kappa = 1 / (2 + np.exp(-1.5) + np.exp(1.5))
    assert conf.radius == pytest.approx(0.5 * np.sqrt((4 + np.log(10)) / (kappa**2 * 30) + 0.2 * 4))
    pi_cal = np.full((2, 3), 1 / 3)
    ucb = vt.ucb_reward(conf, features, pi_cal)
    centred = vt.center_features(features, pi_cal)
    inverse = np.linalg.inv(precision)
    for i in range(2):
        for y in range(3):
            phi = centred[i, y]
            assert ucb[i, y] == pytest.approx(phi @ theta_hat + conf.radius * np.sqrt(phi @ inverse @ phi))


# --------------------------------------------------------------------------- run_offline
def test_run_offline_is_deterministic_and_shares_data_across_algorithms():
    instance = vt.make_instance("offline-poor-coverage", 0)
    a = vt.run_offline(instance, "vpo", 300, 7)
    b = vt.run_offline(instance, "vpo", 300, 7)
    assert a.suboptimality == b.suboptimality and np.array_equal(a.policy, b.policy)
    assert a.options["alpha"] == pytest.approx(vt.OfflineOptions().alpha_scale * np.sqrt(300))  # α = c·√N
    mle = vt.run_offline(instance, "mle", 300, 7)
    vpo0 = vt.run_offline(instance, "vpo", 300, 7, alpha=0.0)  # α = 0 is the MLE on the same data
    assert mle.suboptimality == pytest.approx(vpo0.suboptimality, rel=1e-6, abs=1e-10)
    oracle = vt.run_offline(instance, "oracle", 10, 0)
    assert oracle.suboptimality <= 1e-12


@pytest.mark.parametrize("options,name", [({"calibration": "best"}, "calibration"), ({"alpha": -1.0}, "alpha"),
                                          ({"delta": 1.5}, "delta"), ({"bound": 0.0}, "bound"),
                                          ({"learning_rate": 1.0}, "unknown option"), ({"behavior": "nope"}, "behaviour")])
def test_run_offline_refuses_bad_options(options, name):
    with pytest.raises(ValueError, match=name):
        vt.run_offline(vt.make_instance("offline-poor-coverage", 0), "vpo", 50, 0, **options)


def test_run_offline_refuses_bad_algorithm_and_size():
    instance = vt.make_instance("tabular-small", 0)
    with pytest.raises(ValueError, match="algorithm"):
        vt.run_offline(instance, "dpo", 50, 0)
    with pytest.raises(ValueError, match="N"):
        vt.run_offline(instance, "vpo", 0, 0)


def test_suboptimality_falls_with_N_under_good_coverage():
    """A one-sided paired t-test over 12 seeds: SubOpt at N = 1600 below SubOpt at N = 100."""
    instance = vt.make_instance("linear-d8", 0)
    small = [vt.run_offline(instance, "vpo", 100, s, behavior="good").suboptimality for s in range(12)]
    large = [vt.run_offline(instance, "vpo", 1600, s, behavior="good").suboptimality for s in range(12)]
    assert stats.ttest_rel(large, small, alternative="less").pvalue < 0.01


@pytest.mark.parametrize("instance_seed", [101, 202, 303])
def test_pessimism_beats_mle_where_a_rarely_shown_response_is_bad(instance_seed):
    """On unseen draws of the instance: VPO (π_cal = behaviour) matches cvxpy and beats the MLE plug-in."""
    instance = vt.make_instance("offline-poor-coverage", seed=instance_seed)
    vpo, mle = [], []
    for seed in range(10):
        result = vt.run_offline(instance, "vpo", 800, seed)
        vpo.append(result.suboptimality)
        mle.append(vt.run_offline(instance, "mle", 800, seed).suboptimality)
        if seed == 0:
            behavior = instance.behavior("poor")
            data = sample_preferences(np.random.default_rng(seed), instance.rho, behavior, instance.reward, 800)
            reference = fit_vpo_cvxpy(*data.astuple(), instance.pi_ref, instance.rho, instance.beta,
                                      result.options["alpha"], behavior, result.options["bound"])
            assert reference.status == "optimal"
            assert 0.5 * np.abs(reference.policy - result.policy).sum(axis=1).max() <= 1e-6
    assert stats.ttest_rel(vpo, mle, alternative="less").pvalue < 0.05


# --------------------------------------------------------------------------- rates
def test_slope_fit_recovers_a_known_exponent():
    rng = np.random.default_rng(0)
    sizes = np.array([100, 200, 400, 800, 1600])
    values = 3.0 * sizes ** -0.5 * np.exp(rng.normal(scale=0.1, size=(30, len(sizes))))
    fit = fit_loglog_slope(sizes, values)
    assert fit.low < -0.5 < fit.high and fit.high - fit.low < 0.1
    with pytest.raises(ValueError, match="values"):
        fit_loglog_slope(sizes, values[:, :3])


SIZES = np.array([50, 100, 200, 400, 800, 1600, 3200, 6400])


def test_a_power_law_is_reported_as_one():
    rng = np.random.default_rng(1)
    values = 2.0 * SIZES ** -0.8 * np.exp(rng.normal(scale=0.1, size=(20, len(SIZES))))
    checked = check_power_law(SIZES, values)
    assert checked.shape == "power law" and checked.overall.low < -0.8 < checked.overall.high
    assert len(checked.local_slopes) == len(SIZES) - 2 and all(-1.1 < b < -0.5 for b in checked.local_slopes)
    assert "one power law" in str(checked) and "50–6400" in str(checked)


def test_a_plateau_then_decline_is_found_with_its_breakpoint():
    """Flat at 0.5 up to N = 400, then ∝ N^−1 (the shape LCB's curves have): not one exponent."""
    rng = np.random.default_rng(2)
    curve = np.where(SIZES <= 400, 0.5, 0.5 * (SIZES / 400.0) ** -1.0)
    values = curve * np.exp(rng.normal(scale=0.05, size=(20, len(SIZES))))
    checked = check_power_law(SIZES, values)
    assert checked.shape == "plateau then decline" and checked.breakpoint == 400
    assert abs(checked.before.slope) < 0.05 and abs(checked.after.slope + 1.0) < 0.05
    assert "would not describe the curve" in str(checked)


def test_a_bend_between_two_rates_is_reported():
    rng = np.random.default_rng(3)
    curve = np.where(SIZES <= 800, SIZES ** -0.5, 800 ** -0.5 * (SIZES / 800.0) ** -1.2)
    checked = check_power_law(SIZES, curve * np.exp(rng.normal(scale=0.03, size=(20, len(SIZES)))))
    assert checked.shape == "bends" and checked.breakpoint == 800
