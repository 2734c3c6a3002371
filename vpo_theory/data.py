"""Bradley–Terry preference data: sampling, and pair counts as sufficient statistics (theory §3, §6).

With finitely many responses the likelihood only depends on n[x, y⁺, y⁻], the number of
times y⁺ beat y⁻ in context x. Estimators work on these counts, so evaluating ℓ and its
derivatives costs O(X·Y²) however many comparisons were collected.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from . import kernels
from .validation import as_array, check_distribution, check_preferences

__all__ = ["Preferences", "pair_counts", "sample_pairs", "label_pairs", "sample_preferences", "empirical_chosen_policy"]


@dataclass(frozen=True)
class Preferences:
    """N comparisons: in context ``x[i]``, response ``winner[i]`` was preferred to ``loser[i]``."""

    x: np.ndarray  # (N,) int
    winner: np.ndarray  # (N,) int
    loser: np.ndarray  # (N,) int

    def __len__(self) -> int:
        return len(self.x)

    def concat(self, other: "Preferences") -> "Preferences":
        return Preferences(*(np.concatenate([a, b]) for a, b in zip(self.astuple(), other.astuple())))

    def astuple(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        return self.x, self.winner, self.loser

    def head(self, n: int) -> "Preferences":
        return Preferences(self.x[:n], self.winner[:n], self.loser[:n])


def pair_counts(x, winner, loser, *, num_contexts: int, num_responses: int) -> np.ndarray:
    """n[x, y⁺, y⁻] (X, Y, Y) float64: how often y⁺ beat y⁻ in context x."""
    x, winner, loser = check_preferences(x, winner, loser, num_contexts=num_contexts, num_responses=num_responses)
    flat = (x * num_responses + winner) * num_responses + loser  # (N,) index into the raveled (X, Y, Y) table
    counts = np.bincount(flat, minlength=num_contexts * num_responses * num_responses)
    return counts.reshape(num_contexts, num_responses, num_responses).astype(np.float64)


def sample_pairs(rng: np.random.Generator, rho: np.ndarray, first: np.ndarray, second: np.ndarray, n: int):
    """x ~ ρ, y¹ ~ first(·|x), y² ~ second(·|x), n times independently. Returns (x, y1, y2)."""
    x = rng.choice(len(rho), size=n, p=rho)
    y1 = kernels.sample_categorical(rng, first[x])
    y2 = kernels.sample_categorical(rng, second[x])
    return x, y1, y2


def label_pairs(rng: np.random.Generator, reward: np.ndarray, x, y1, y2) -> Preferences:
    """Bradley–Terry labels: y¹ ≻ y² with probability σ(r⋆(x,y¹) − r⋆(x,y²))  (theory §3)."""
    first_wins = kernels.bradley_terry_wins(reward[x, y1] - reward[x, y2], rng.uniform(size=len(x)))
    winner = np.where(first_wins, y1, y2)
    loser = np.where(first_wins, y2, y1)
    return Preferences(np.asarray(x, dtype=np.int64), winner.astype(np.int64), loser.astype(np.int64))


def sample_preferences(rng: np.random.Generator, rho, behavior, reward, n: int) -> Preferences:
    """Offline data (theory §7): n pairs with x ~ ρ, y¹, y² ~ μ(·|x) independently, BT labels from r⋆."""
    reward = as_array("reward", reward, ndim=2)
    behavior = check_distribution("behavior", behavior, shape=reward.shape)
    rho = check_distribution("rho", rho, shape=(reward.shape[0],), ndim=1)
    if int(n) != n or n < 0:
        raise ValueError(f"`n` (number of pairs) must be a non-negative integer, got {n!r}")
    x, y1, y2 = sample_pairs(rng, rho, behavior, behavior, int(n))
    return label_pairs(rng, reward, x, y1, y2)


def empirical_chosen_policy(x, winner, pi_ref: np.ndarray) -> np.ndarray:
    """π_cal = `chosen`: the empirical distribution of preferred responses per context (theory §3).

    Contexts without data fall back to π_ref.
    """
    num_contexts, num_responses = pi_ref.shape
    counts = np.zeros((num_contexts, num_responses))
    np.add.at(counts, (np.asarray(x, dtype=np.int64), np.asarray(winner, dtype=np.int64)), 1.0)
    totals = counts.sum(axis=1, keepdims=True)
    with np.errstate(invalid="ignore", divide="ignore"):
        chosen = np.where(totals > 0, counts / np.where(totals > 0, totals, 1.0), pi_ref)
    return chosen

