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
