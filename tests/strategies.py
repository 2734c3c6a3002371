"""Hypothesis strategies: random bandit instances over the ranges the package promises.

β is log-uniform in [1e-3, 1e2] and rewards reach magnitude 30, so r/β reaches 3e4. Arrays
come from a seeded NumPy generator drawn by hypothesis (fast, and shrinkable through the
seed and the size parameters).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from hypothesis import strategies as st


def random_policy(rng: np.random.Generator, shape, *, temperature: float) -> np.ndarray:
    logits = rng.normal(size=shape) * temperature
    logits -= logits.max(axis=-1, keepdims=True)
    pi = np.exp(logits)
    pi /= pi.sum(axis=-1, keepdims=True)
    return pi


@dataclass
class Instance:
    r: np.ndarray  # (X, Y)
    pi: np.ndarray  # (X, Y) full support
    pi_ref: np.ndarray  # (X, Y)
    pi_cal: np.ndarray  # (X, Y)
    rho: np.ndarray  # (X,)
    beta: float
    x: np.ndarray  # (N,)
    winner: np.ndarray  # (N,)
    loser: np.ndarray  # (N,)


@st.composite
def instances(draw, *, max_contexts: int = 4, max_responses: int = 6, reward_scale: float | None = None,
              log10_beta: tuple[float, float] = (-3.0, 2.0)) -> Instance:
    seed = draw(st.integers(0, 2**32 - 1))
    num_contexts = draw(st.integers(1, max_contexts))
    num_responses = draw(st.integers(2, max_responses))
    beta = 10.0 ** draw(st.floats(*log10_beta))
    scale = reward_scale if reward_scale is not None else draw(st.sampled_from([1e-3, 0.5, 3.0, 30.0]))
    peak = draw(st.sampled_from([0.1, 1.0, 4.0]))  # how far the policies are from uniform
    num_pairs = draw(st.integers(0, 12))
    rng = np.random.default_rng(seed)
    shape = (num_contexts, num_responses)
    r = np.clip(rng.normal(size=shape) * scale, -30, 30)
    rho = random_policy(rng, (num_contexts,), temperature=1.0)
    return Instance(
        r=r,
        pi=random_policy(rng, shape, temperature=peak),
        pi_ref=random_policy(rng, shape, temperature=peak),
        pi_cal=random_policy(rng, shape, temperature=peak),
        rho=rho,
        beta=beta,
        x=rng.integers(0, num_contexts, size=num_pairs),
        winner=rng.integers(0, num_responses, size=num_pairs),
        loser=rng.integers(0, num_responses, size=num_pairs),
    )


def random_linear_problem(dimension: int, num_pairs: int, seed: int, *, num_contexts: int = 4, num_responses: int = 5,
                          beta: float = 0.5):
    """A small random linear problem — features N(0, I/d), π_ref half Dirichlet half uniform, ρ uniform, pairs drawn
    uniformly and labelled by a random truth — as (vt.Problem, counts (X, Y, Y), features centred at π_ref (X, Y, d))."""
    import vpo_theory as vt

    rng = np.random.default_rng(seed)
    X, Y = num_contexts, num_responses
    features = rng.normal(size=(X, Y, dimension)) / np.sqrt(dimension)
    pi_ref = 0.5 * rng.dirichlet(np.ones(Y), size=X) + 0.5 / Y
    truth = features @ rng.normal(size=dimension)
    x = rng.integers(0, X, num_pairs)
    first, second = rng.integers(0, Y, (2, num_pairs))
    wins = rng.random(num_pairs) < 1 / (1 + np.exp(-(truth[x, first] - truth[x, second])))
    counts = vt.pair_counts(x, np.where(wins, first, second), np.where(wins, second, first), num_contexts=X,
                            num_responses=Y)
    centred = features - np.einsum("xy,xyd->xd", pi_ref, features)[:, None, :]
    return vt.Problem(pi_ref, np.full(X, 1 / X), beta, features), counts, centred
