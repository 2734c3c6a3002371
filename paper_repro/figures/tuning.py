"""tuning: every learner's hyperparameter, chosen by one protocol on instances and data no other figure draws.

The protocol, the same for every learner (theory §4, "Hyperparameters"): a grid of values; the tuning families —
instance seeds ``TUNING_INSTANCE_SEEDS`` (the figures draw 0–7) and data seeds from ``TUNING_DATA_SEED_START`` (the
figures use seeds below 1 000); a score per grid value, the geometric mean over (family, instance, data seed) of the
learner's loss divided by a fixed comparator's on the same draw; the value with the least score is chosen. Each
instance seed is a fold: the value chosen on one fold is scored on the others (cross-fitting), so the record also says
how much a choice made on few instances loses elsewhere.

- online (Regret(T) at the `online-regret` horizon, refit every round, divided by greedy's): VPO's α scale, XPO's and
  SELM's scales, Thompson sampling's posterior scale, the mixed learner's first-stage share, and the UCB and MaxInP
  confidence multipliers c_Γ (per reward class, as multiples of the coverage c_Γ below);
- offline (SubOpt at N, divided by the MLE plug-in's): pessimistic VPO's α scale;
- coverage: LCB's (and ucb-coverage's) c_Γ per class — the smallest whose confidence set holds θ⋆ in ≥ 95 % of the
  tuning draws (theory §8).

The figures pass the choices explicitly (``paper_repro.tuned``) and store them in their configs; the library's
defaults (``vpo_theory.tuned``) equal them (a test checks).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from vpo_theory import make_instance
from vpo_theory.offline import mle_confidence

from ..cells import offline_cell, online_cell
from ..common import finish_record, pyplot, readable_log_axes, save_figure
from ..figure import Figure, register
from ..grid import run_grid

TUNING_INSTANCE_SEEDS = [100, 101, 102, 103]  # the figures draw 0–7 (cells.FIGURE_INSTANCE_SEEDS)
TUNING_DATA_SEED_START = 1000  # the figures' data seeds are below 1 000
ONLINE_FAMILIES = ["tabular-small", "tabular-trap", "linear-d8"]
OPTIMISTIC_SCALES = [0.01, 0.03, 0.1, 0.3, 1.0]
#: learner → (the hyperparameter's key in vpo_theory.tuned.TUNED, run_online's option, its grid, per class?)
ONLINE_GRIDS = {
    "vpo": ("online_alpha_scale", "alpha_scale", OPTIMISTIC_SCALES, False),
    "xpo": ("xpo_scale", "xpo_scale", OPTIMISTIC_SCALES, False),
    "selm": ("selm_scale", "selm_scale", OPTIMISTIC_SCALES, False),
    "ts": ("ts_scale", "ts_scale", [0.3, 1.0, 3.0], False),
    "mixed": ("mixed_fraction", "mixed_fraction", [0.1, 0.25, 0.5], False),
    # multiples of the coverage c_Γ; UCB's grid goes lower: its regret-best tabular multiple lies at the low end
    "ucb": ("ucb_c_gamma", "c_gamma", [0.001, 0.003, 0.01, 0.03, 0.1, 0.3, 1.0, 3.0], True),
    "maxinp": ("maxinp_c_gamma", "c_gamma", [0.01, 0.03, 0.1, 0.3, 1.0, 3.0], True),
}
OFFLINE_SETTINGS = [("offline-poor-coverage", "poor"), ("offline-rare-optimal", "poor"), ("linear-d8", "good"),
                    ("linear-d8", "poor")]
OFFLINE_ALPHA_SCALES = [0.1, 0.3, 1.0, 3.0, 10.0]
COVERAGE_SETTINGS = [("tabular-small", "default"), ("offline-poor-coverage", "poor"), ("linear-d8", "good"),
                     ("linear-d8", "poor")]
DELTA = 0.05


def _class(family: str) -> str:
    return "linear" if family.startswith("linear") else "tabular"


def _sizes(quick: bool) -> dict:
    if quick:  # every other grid value, one tabular family
        return {"instances": TUNING_INSTANCE_SEEDS[:2], "online_T": 20, "online_seeds": 1, "offline_N": [400],
                "offline_seeds": 2, "coverage_N": [100, 400], "coverage_seeds": 8, "grid_step": 2,
                "families": ["tabular-small", "linear-d8"]}
    return {"instances": TUNING_INSTANCE_SEEDS, "online_T": 100, "online_seeds": 1, "offline_N": [400, 1600],
            "offline_seeds": 5, "coverage_N": [100, 400, 1600], "coverage_seeds": 25, "grid_step": 1,
            "families": ONLINE_FAMILIES}


def _data_seeds(count: int) -> list[int]:
    return list(range(TUNING_DATA_SEED_START, TUNING_DATA_SEED_START + count))


def _coverage_cell(setting: int, instance_seed: int, n: int, seed: int) -> dict:
    family, behavior = COVERAGE_SETTINGS[setting]
    confidence, theta_star = mle_confidence(make_instance(family, instance_seed), n, seed,
                                            behavior=None if behavior == "default" else behavior, delta=DELTA)
    return {"needed": float(confidence.distance(theta_star) / confidence.radius)}  # the c_Γ this draw needs


def _online_tuning_cell(family: str, learner: str, value: float, instance_seed: int, seed: int, horizon: int,
                        c_gamma: dict) -> dict:
    """One run of ``learner`` with its hyperparameter at ``value`` (a multiple of the coverage c_Γ for UCB/MaxInP)."""
    key, option, _, per_class = ONLINE_GRIDS.get(learner, (None, None, None, False))
    options = {} if option is None else {option: value * c_gamma[_class(family)] if per_class else value}
    return online_cell(family, instance_seed, learner, horizon, seed, [horizon], options=options)


def cross_fit(loss: np.ndarray, comparator: np.ndarray) -> dict:
    """Scores and choice from loss (values, folds, draws) and the comparator's (folds, draws): the score of each value
    (geometric mean of loss / comparator over every draw), the chosen index, and per fold the value chosen on it with
    its score on the other folds beside the best score there."""
    log_ratio = np.log(np.maximum(loss, 1e-12) / np.maximum(comparator, 1e-12)[None])  # (V, F, D)
    score = np.exp(log_ratio.mean(axis=(1, 2)))
    folds = []
    for fold in range(loss.shape[1]):
        chosen = int(np.argmin(log_ratio[:, fold].mean(axis=1)))
        others = np.delete(log_ratio, fold, axis=1)
        if others.shape[1] == 0:
            continue
        elsewhere = np.exp(others.mean(axis=(1, 2)))
        folds.append({"chosen": chosen, "score_elsewhere": float(elsewhere[chosen]),
                      "best_elsewhere": float(elsewhere.min())})
    return {"score": score.tolist(), "chosen": int(np.argmin(score)), "folds": folds}


def compute(quick: bool) -> dict:
    size = _sizes(quick)
    instances = size["instances"]
    # coverage c_Γ per class (the multiples the UCB and MaxInP grids start from)
    coverage_seeds = _data_seeds(size["coverage_seeds"])
    needed = run_grid("tuning", _coverage_cell, {"setting": range(len(COVERAGE_SETTINGS)), "instance_seed": instances,
                                                 "n": size["coverage_N"], "seed": coverage_seeds},
                      depends={}).take("needed").reshape(len(COVERAGE_SETTINGS), -1)
    # 4 significant digits: the quantile of fitted values moves in the last digits with the BLAS build, and the
    # figures' cached cells are keyed by the tuned values
    coverage = {}
    for cls in ("tabular", "linear"):
        rows = [k for k, (family, _) in enumerate(COVERAGE_SETTINGS) if _class(family) == cls]
        coverage[cls] = float(f"{np.quantile(needed[rows].ravel(), 1 - DELTA):.4g}")
    # offline α of pessimistic VPO, against the MLE plug-in
    offline_seeds = _data_seeds(size["offline_seeds"])
    offline = {}
    for algorithm, values in (("vpo", OFFLINE_ALPHA_SCALES), ("mle", [None])):
        offline[algorithm] = _offline(algorithm, values, instances, size["offline_N"], offline_seeds)
    offline_fit = cross_fit(offline["vpo"], offline["mle"][0])
    # online: every learner's grid against greedy, each instance seed a fold
    online_seeds = _data_seeds(size["online_seeds"])
    horizon = size["online_T"]
    fixed = {"horizon": horizon, "c_gamma": coverage}
    families = size["families"]
    greedy = run_grid("tuning", _online_tuning_cell, {"family": families, "learner": ["greedy"], "value": [0.0],
                                                      "instance_seed": instances, "seed": online_seeds},
                      fixed=fixed, depends={}).take("regret_T")[:, 0, 0]  # (families, instances, seeds)
    online, choice = {}, {"offline_alpha_scale": OFFLINE_ALPHA_SCALES[offline_fit["chosen"]],
                          "coverage_c_gamma": coverage}
    grids = {learner: (key, option, values[::size["grid_step"]], per_class)
             for learner, (key, option, values, per_class) in ONLINE_GRIDS.items()}
    for learner, (key, _, values, per_class) in grids.items():
        grid = run_grid("tuning", _online_tuning_cell, {"family": families, "learner": [learner],
                                                        "value": values, "instance_seed": instances,
                                                        "seed": online_seeds}, fixed=fixed, depends={})
        regret = grid.take("regret_T")[:, 0]  # (families, values, instances, seeds)
        certificates = [out["certificate"] for _, out in grid.items() if out["certificate"].get("method") ==
                        "certified"]
        entry = {"values": values, "regret": regret, "per_class": per_class}
        if certificates:
            entry["certified"] = [int(sum(c["rounds_certified"] for c in certificates)),
                                  int(sum(c["rounds"] for c in certificates))]
        classes = ({cls: [k for k, family in enumerate(families) if _class(family) == cls]
                    for cls in ("tabular", "linear")} if per_class else {"all": list(range(len(families)))})
        for cls, rows in classes.items():
            loss = regret[rows].transpose(1, 2, 0, 3).reshape(len(values), len(instances), -1)  # (V, folds, draws)
            comparator = greedy[rows].transpose(1, 0, 2).reshape(len(instances), -1)
            entry[cls] = cross_fit(loss, comparator)
        chosen = {cls: values[entry[cls]["chosen"]] * (coverage[cls] if per_class else 1.0) for cls in classes}
        choice[key] = chosen if per_class else chosen["all"]
        online[learner] = entry
    config = {"instance_seeds": instances, "folds": [[i] for i in instances],
              "seeds": sorted(set(coverage_seeds) | set(offline_seeds) | set(online_seeds)),
              "online": {"families": families, "T": horizon, "seeds": online_seeds, "update_every": 1,
                         "comparator": "greedy",
                         "grids": {learner: {"hyperparameter": key, "values": values,
                                             "multiple_of_coverage_c_gamma": per_class}
                                   for learner, (key, _, values, per_class) in grids.items()}},
              "offline": {"settings": OFFLINE_SETTINGS, "N": size["offline_N"], "seeds": offline_seeds,
                          "alpha_scales": OFFLINE_ALPHA_SCALES, "comparator": "mle"},
              "coverage": {"settings": COVERAGE_SETTINGS, "N": size["coverage_N"], "seeds": coverage_seeds,
                           "delta": DELTA}}
    results = {"online": online, "online_greedy": greedy,
               "offline": {"vpo": offline["vpo"], "mle": offline["mle"], **offline_fit},
               "coverage": {"needed_c_gamma": needed}}
    return finish_record(summarize, quick=quick, config=config, tuned=False, results=results, choice=choice)


def _offline(algorithm: str, values: list, instances: list[int], sizes: list[int], seeds: list[int]) -> np.ndarray:
    """SubOpt of ``algorithm`` per α-scale value: (values, folds = instances, draws = settings × N × seeds)."""
    grid = run_grid("tuning", _offline_tuning_cell, {"value": values, "instance_seed": instances,
                                                     "setting": [f"{f}|{b}" for f, b in OFFLINE_SETTINGS],
                                                     "n": sizes, "seed": seeds},
                    fixed={"algorithm": algorithm}, depends={})
    return grid.take("subopt").reshape(len(values), len(instances), -1)


def _offline_tuning_cell(value, instance_seed: int, setting: str, n: int, seed: int, algorithm: str) -> dict:
    family, behavior = setting.split("|")
    return offline_cell(family, instance_seed, behavior, algorithm, n, seed,
                        options={} if value is None else {"alpha_scale": value})


def summarize(record: dict) -> dict:
    cfg, results, choice = record["config"], record["results"], record["choice"]
    offline = results["offline"]
    summary = {"offline α = c·√N (pessimistic VPO)": _choice_text(cfg["offline"]["alpha_scales"], offline,
                                                                   "SubOpt(VPO)/SubOpt(MLE)"),
               "coverage c_Γ (LCB, ucb-coverage)": f"tabular {choice['coverage_c_gamma']['tabular']:.3g}, linear "
                                                   f"{choice['coverage_c_gamma']['linear']:.3g} (the "
                                                   f"{1 - cfg['coverage']['delta']:.0%} quantile of the c_Γ each "
                                                   f"tuning draw needs to be covered)"}
    for learner, entry in results["online"].items():
        key = cfg["online"]["grids"][learner]["hyperparameter"]
        for cls in ("all", "tabular", "linear"):
            if cls in entry:
                label = f"online {learner}: {key}" + ("" if cls == "all" else f" ({cls})")
                text = _choice_text(entry["values"], entry[cls], f"Regret({cfg['online']['T']})/greedy's")
                if "certified" in entry and cls in ("all", "tabular"):
                    text += f"; rounds certified {entry['certified'][0]}/{entry['certified'][1]}"
                summary[label] = text
    return summary


def _choice_text(values, fit: dict, ratio: str) -> str:
    scores = ", ".join(f"{value:g}: {score:.3f}" for value, score in zip(values, fit["score"]))
    folds = "; ".join(f"{values[fold['chosen']]:g} → {fold['score_elsewhere']:.3f} (best {fold['best_elsewhere']:.3f})"
                      for fold in fit["folds"])
    return (f"chosen {values[fit['chosen']]:g}; geometric mean of {ratio} per value: {scores}; each fold's choice "
            f"scored on the other folds: {folds}")


def plot(record: dict, path: Path) -> None:
    plt = pyplot()
    cfg, results = record["config"], record["results"]
    panels = [("offline VPO α scale", cfg["offline"]["alpha_scales"], [("all", results["offline"])])]
    for learner, entry in results["online"].items():
        fits = [(cls, entry[cls]) for cls in ("all", "tabular", "linear") if cls in entry]
        panels.append((f"{learner}: {cfg['online']['grids'][learner]['hyperparameter']}", entry["values"], fits))
    fig, axes = plt.subplots(2, (len(panels) + 1) // 2, figsize=(3.2 * ((len(panels) + 1) // 2), 6.4),
                             layout="constrained")
    for ax, (title, values, fits) in zip(axes.ravel(), panels):
        for k, (cls, fit) in enumerate(fits):
            ax.plot(values, fit["score"], "o-", color=f"C{k}", label=cls if cls != "all" else None)
            ax.axvline(values[fit["chosen"]], color=f"C{k}", ls="--", lw=0.8)
        ax.axhline(1.0, color="0.5", ls=":", lw=0.8)
        ax.set(xscale="log", title=title)
        ax.title.set_fontsize(8)
        readable_log_axes(ax)
        if len(fits) > 1:
            ax.legend(fontsize=7)
    for ax in axes.ravel()[len(panels):]:
        ax.axis("off")
    fig.supylabel("geometric mean of loss / comparator's (online: greedy; offline: MLE)", fontsize=8)
    fig.suptitle(f"tuning on instance seeds {cfg['instance_seeds']} and data seeds ≥ {min(cfg['seeds'])} (no other "
                 f"figure draws them); dashed: the choice", fontsize=9)
    save_figure(fig, path)


register(Figure("tuning", "every learner's hyperparameter chosen by one cross-fitted protocol on instance and data "
                "seeds no other figure draws", compute, plot, summarize))
