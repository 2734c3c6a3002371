"""The figures' cells: one online run or one offline fit of a named instance family, with the tuned hyperparameters
passed explicitly (``paper_repro.tuned``) and the certified step budgeted in cells only, so a record does not depend
on the machine's speed (a time budget would).

Every figure but `tuning` draws its instances with seeds ``FIGURE_INSTANCE_SEEDS`` and its data with seeds below 1 000;
`tuning` draws both elsewhere (a test checks that they are disjoint).
"""

from __future__ import annotations

import dataclasses

import numpy as np

from vpo_theory import make_instance, run_offline, run_online

from .tuned import offline_options, online_options

__all__ = ["FIGURE_INSTANCE_SEEDS", "FIGURE_MAX_CELLS", "ONLINE_LEARNERS", "online_cell", "run_learner", "offline_cell",
           "family_instance", "instance_seeds", "data_seeds"]

#: The instance seeds every figure draws its families with (quick runs: the first two).
FIGURE_INSTANCE_SEEDS = tuple(range(8))
#: The certified step's budget in the figures: cells, never seconds (the records stay machine-independent).
FIGURE_MAX_CELLS = 50_000
#: Every learner of the harness (``vpo_theory.learners``) but the oracle.
ONLINE_LEARNERS = ("vpo", "xpo", "selm", "greedy", "mixed", "ts", "ucb", "ucb-coverage", "maxinp", "reference")


def instance_seeds(quick: bool, full: int = len(FIGURE_INSTANCE_SEEDS)) -> list[int]:
    """The instance seeds of a figure: the first ``full`` of ``FIGURE_INSTANCE_SEEDS`` (quick: the first two, the
    fewest a paired test over instances accepts)."""
    return list(FIGURE_INSTANCE_SEEDS[:2] if quick else FIGURE_INSTANCE_SEEDS[:full])


def data_seeds(quick: bool, full: int = 20, small: int = 1) -> list[int]:
    """The data seeds drawn on each instance: 0 … full − 1 (quick: ``small``)."""
    return list(range(small if quick else full))


def family_instance(name: str, instance_seed: int, beta: float | None = None):
    """The family member ``make_instance(name, instance_seed)``, with β replaced when given."""
    instance = make_instance(name, instance_seed)
    return instance if beta is None else dataclasses.replace(instance, beta=beta)


def online_cell(instance: str, instance_seed: int, algorithm: str, horizon: int, seed: int, checkpoints: list,
                scheme: str = "policy-ref", beta: float | None = None, options: dict | None = None) -> dict:
    """One online run of a family member: see ``run_learner``."""
    return run_learner(family_instance(instance, instance_seed, beta), algorithm, horizon, seed, checkpoints,
                       scheme=scheme, options=options)


def run_learner(problem, algorithm: str, horizon: int, seed: int, checkpoints: list, *, scheme: str = "policy-ref",
                options: dict | None = None) -> dict:
    """One online run with the tuned hyperparameters and the figures' cell budget: the regret at ``checkpoints`` and
    at T, the certificate summary, seconds per round."""
    settings = online_options(algorithm, problem.is_linear) | {"step_seconds": None, "scheme": scheme}
    if not problem.is_linear:
        settings["max_cells"] = FIGURE_MAX_CELLS
    result = run_online(problem, algorithm, horizon, seed, **settings | (options or {}))
    return {"regret_at": [float(result.regret[c - 1]) for c in checkpoints], "regret_T": float(result.regret[-1]),
            "certificate": result.certificate, "seconds_per_round": float(np.mean(result.round_seconds))}


def offline_cell(instance: str, instance_seed: int, behavior: str | None, algorithm: str, n: int, seed: int,
                 options: dict | None = None) -> dict:
    """One offline fit: SubOpt(π̂) of ``algorithm`` on N comparisons from the behaviour."""
    problem = family_instance(instance, instance_seed)
    settings = offline_options(algorithm, problem.is_linear) | {"behavior": behavior} | (options or {})
    return {"subopt": float(run_offline(problem, algorithm, n, seed, **settings).suboptimality)}
