"""The coverage coefficient against a brute-force enumeration of the comparisons."""

from __future__ import annotations

import numpy as np
import pytest

import vpo_theory as vt
from vpo_theory.coverage import coverage_coefficient, features_of


def _by_enumeration(instance, behavior):
    """Σ_μ and v summed pair by pair (x, y, y′) with their probabilities, then C by a least-squares solve."""
    phi = features_of(instance)
    X, Y, d = phi.shape
    pi_star = vt.optimal_policy(instance.reward, instance.pi_ref, instance.beta)
    sigma, v = np.zeros((d, d)), np.zeros(d)
    for x in range(X):
        for y in range(Y):
            for y2 in range(Y):
                z = phi[x, y] - phi[x, y2]
                sigma += instance.rho[x] * behavior[x, y] * behavior[x, y2] * np.outer(z, z)
                v += instance.rho[x] * pi_star[x, y] * behavior[x, y2] * z
    solution = np.linalg.lstsq(sigma, v, rcond=1e-10)[0]  # Σ⁺v: C² = vᵀΣ⁺v
    return float(np.sqrt(v @ solution))


@pytest.mark.parametrize("name,behavior", [("offline-rare-optimal", "poor"), ("offline-rare-optimal", "good"),
                                           ("linear-d4", "poor"), ("linear-d8", "good")])
def test_matches_the_enumeration(name, behavior):
    instance = vt.make_instance(name, 3)
    mu = instance.behavior(behavior)
    assert coverage_coefficient(instance, mu) == pytest.approx(_by_enumeration(instance, mu), rel=1e-6)


def test_poor_coverage_of_the_best_response_has_the_larger_coefficient():
    instance = vt.make_instance("offline-rare-optimal", 0)
    assert coverage_coefficient(instance, instance.behavior("poor")) > 5 * coverage_coefficient(
        instance, instance.behavior("good"))


def test_a_response_the_behaviour_never_shows_is_not_covered():
    instance = vt.make_instance("offline-rare-optimal", 0)
    mu = instance.behavior("good").copy()
    mu[:, -1] = 0.0  # never shows the best response, which π* uses
    mu /= mu.sum(axis=1, keepdims=True)
    assert coverage_coefficient(instance, mu) == float("inf")
