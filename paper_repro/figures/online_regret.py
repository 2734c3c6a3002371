"""online-regret: Regret(T) of every learner of the harness on three instance families  (theory §6, §8).

Hypothesis (the paper's, for the online setting): optimistic VPO's regret is lower than the baselines' — the plug-in
(greedy), the confidence-set UCB, Thompson sampling — and than not learning (π_ref). Regret(T) = Σ_t SubOpt(π_t) with
SubOpt(π) = J⋆(r⋆) − J(r⋆, π) (theory §6, I4). Sampling `policy-ref` (y¹ ~ π_t, y² ~ π_ref), each family's declared
class, every learner's hyperparameter tuned by the `tuning` figure on instance seeds this figure never draws. Each
family: 8 instances × 20 data seeds (common random numbers across learners; the instance is the unit of replication),
XPO and SELM — certified like VPO, and as costly — on the first 5 data seeds; intervals resample instances, then
seeds; the claims (paper_repro/claims.toml) are paired tests, Holm-adjusted within the figure. The policy is refit
every round (the paper's algorithm; `optimism-vs-greedy` runs batched and longer).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from paper_repro.rates import fit_loglog_slope

from ..cells import ONLINE_LEARNERS, data_seeds, instance_seeds, online_cell
from ..common import finish_panels, finish_record, panels, reference_slope
from ..figure import Figure, register
from ..grid import run_grid
from ..stats import family_interval

INSTANCES = ["tabular-small", "tabular-trap", "linear-d8"]
NAMES = {"vpo": "VPO (s=+1)", "xpo": "XPO", "selm": "SELM", "greedy": "greedy (MLE)", "mixed": "two-stage mixed",
         "ts": "Thompson", "ucb": "UCB", "ucb-coverage": "UCB (coverage c_Γ)", "maxinp": "MaxInP",
         "reference": "π_ref"}


def checkpoints_for(horizon: int, count: int = 8) -> list[int]:
    """``count`` horizons spaced evenly on a log scale from T/16 to T."""
    return sorted({int(round(t)) for t in np.geomspace(max(1, horizon // 16), horizon, count)})


def family_curves(grid, settings: list[str], learners: list[str], checkpoints: list[int]) -> tuple[dict, dict]:
    """(results, samples) of an online grid with axes setting × learner × instance_seed × seed: per setting and
    learner the family mean of the regret at each checkpoint with its hierarchical interval, the fitted exponent,
    the certificate summary; the samples are (instances, seeds) tables of the regret at T and at each checkpoint."""
    results, samples = {}, {}
    for setting in settings:
        results[setting], samples[setting] = {}, {}
        for learner in learners:
            cell = grid.where(setting=setting, learner=learner)
            at = cell.take("regret_at")  # (I, S, checkpoints)
            intervals = np.array([family_interval(at[..., j]) for j in range(len(checkpoints))])  # (C, 3)
            fit = fit_loglog_slope(checkpoints, at.mean(axis=1))  # instance means: the interval resamples instances
            certificates = [output["certificate"] for _, output in cell.items() if output["certificate"]]
            entry = {"mean": intervals[:, 0], "low": intervals[:, 1], "high": intervals[:, 2], "slope": fit.slope,
                     "slope_ci": [fit.low, fit.high]}
            if certificates and certificates[0].get("method") == "certified":
                entry["certified"] = [int(sum(c["rounds_certified"] for c in certificates)),
                                      int(sum(c["rounds"] for c in certificates))]
            results[setting][learner] = entry
            samples[setting][learner] = {"regret_T": at[..., -1]} | {f"regret_{t}": at[..., j]
                                                                       for j, t in enumerate(checkpoints)}
    return results, samples


#: Certified like VPO and as costly a round: run on the first ``FEWER_SEEDS`` data seeds of each instance.
COSTLY = ("xpo", "selm")
FEWER_SEEDS = 5


def compute(quick: bool) -> dict:
    horizon = 30 if quick else 100
    checkpoints = checkpoints_for(horizon)
    seeds = {learner: data_seeds(quick, full=FEWER_SEEDS if learner in COSTLY else 20) for learner in ONLINE_LEARNERS}
    results, samples = {setting: {} for setting in INSTANCES}, {setting: {} for setting in INSTANCES}
    for group in (tuple(learner for learner in ONLINE_LEARNERS if learner not in COSTLY), COSTLY):
        axes = {"setting": INSTANCES, "learner": list(group), "instance_seed": instance_seeds(quick),
                "seed": seeds[group[-1]]}
        grid = run_grid("online-regret", _cell, axes, fixed={"horizon": horizon, "checkpoints": checkpoints})
        part_results, part_samples = family_curves(grid, INSTANCES, list(group), checkpoints)
        for setting in INSTANCES:
            results[setting] |= part_results[setting]
            samples[setting] |= part_samples[setting]
    for setting in INSTANCES:  # the learners in the harness's order
        results[setting] = {learner: results[setting][learner] for learner in ONLINE_LEARNERS}
    config = {"T": horizon, "checkpoints": checkpoints, "instances": INSTANCES,
              "learners": list(ONLINE_LEARNERS), "instance_seeds": instance_seeds(quick),
              "seeds": seeds["vpo"], "seeds_by_learner": seeds, "scheme": "policy-ref",
              "update_every": 1}
    return finish_record(summarize, quick=quick, config=config, results=results, samples=samples)


def _cell(setting: str, learner: str, instance_seed: int, seed: int, horizon: int, checkpoints: list) -> dict:
    return online_cell(setting, instance_seed, learner, horizon, seed, checkpoints)


def summarize(record: dict) -> dict:
    """Per family: every learner's Regret(T), family mean with its hierarchical 95 % interval and fitted exponent."""
    T, summary = record["config"]["T"], {}
    for setting, per_learner in record["results"].items():
        parts = []
        for learner, entry in per_learner.items():
            text = (f"{learner} {entry['mean'][-1]:.1f} [{entry['low'][-1]:.1f}, {entry['high'][-1]:.1f}] "
                    f"(T^{entry['slope']:.2f})")
            if "certified" in entry:
                text += f" certified {entry['certified'][0]}/{entry['certified'][1]}"
            parts.append(text)
        summary[setting] = f"Regret({T}): " + "; ".join(parts)
    return summary


def regret_panels(record: dict, path: Path, *, width: float, legend, title: str, decorate=None) -> None:
    """One log–log panel per setting of ``record["results"]``: each learner's Regret(T), family mean with its 95 %
    hierarchical band, labelled ``legend(learner, entry)``; ``decorate(ax, per_learner)`` adds to a panel."""
    t = np.asarray(record["config"]["checkpoints"])
    fig, (axes,) = panels(len(record["results"]), width=width, height=4.2)
    for ax, (setting, per_learner) in zip(axes, record["results"].items()):
        for k, (learner, entry) in enumerate(per_learner.items()):
            ax.plot(t, entry["mean"], "o-", ms=2, color=f"C{k}", label=legend(learner, entry))
            ax.fill_between(t, entry["low"], entry["high"], color=f"C{k}", alpha=0.12)
        if decorate is not None:
            decorate(ax, per_learner)
        ax.set_title(setting.replace("|", ", "), fontsize=9)
    finish_panels(fig, axes, path, xlabel="T (rounds)", ylabel="Regret(T): family mean, 95% hierarchical interval",
                  title=title)


def plot(record: dict, path: Path) -> None:
    cfg = record["config"]
    t = np.asarray(cfg["checkpoints"])

    def square_root(ax, per_learner):  # the √T reference line from VPO's first point
        start = float(per_learner["vpo"]["mean"][0])
        if start > 0:
            reference_slope(ax, t, start, 0.5, "∝ √T")

    regret_panels(record, path, width=5, decorate=square_root,
                  legend=lambda learner, entry: f"{NAMES.get(learner, learner)}: T^{entry['slope']:.2f}",
                  title=f"Online regret, policy-ref sampling ({len(cfg['instance_seeds'])} instances × "
                        f"{len(cfg['seeds'])} data seeds per family; XPO, SELM: "
                        f"{len(cfg['seeds_by_learner']['xpo'])} data seeds)")


register(Figure("online-regret", "Regret(T) of every learner (VPO, XPO, SELM, greedy, mixed, Thompson, UCB, MaxInP, "
                "π_ref) on three instance families", compute, plot, summarize,
                hypothesis="optimistic VPO's regret is lower than greedy's, UCB's, Thompson sampling's and π_ref's"))
