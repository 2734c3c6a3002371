"""tuning: the package's hyperparameter defaults, chosen on instances and data no figure uses.

Three choices, each on instance seeds TUNING_INSTANCE_SEEDS (every figure draws its instances with
seed 0) and data seeds from TUNING_DATA_SEED_START on (the figures use seeds below 1 000), with the
declared reward classes (``BanditInstance.bound``):

- ``offline_alpha_scale``: c in α = c·√N for pessimistic VPO — the grid value with the least geometric
  mean, over settings × N × instance seeds, of SubOpt(VPO) / SubOpt(MLE plug-in) (theory §7);
- ``c_gamma``: LCB/UCB's confidence multiplier per class — the smallest c_Γ whose confidence set holds θ*
  in ≥ 95 % of the tuning draws (theory §8; the confidence-coverage figure measures the same on the
  figures' instances);
- ``online_alpha_scale``: c in α = c·√T for optimistic VPO — the least geometric mean, over instances ×
  instance seeds, of Regret(T)(VPO) / Regret(T)(greedy) (theory §6), VPO's step certified.

The record (figures/tuning.json) is what ``OfflineOptions.alpha_scale``, ``OnlineOptions.alpha_scale``
and ``DEFAULT_C_GAMMA`` cite; tests/test_repro_and_cli.py checks that they equal its choices and that its
seeds are disjoint from every figure's.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from vpo_theory import make_instance, run_offline, run_online
from vpo_theory.offline import mle_confidence

from ..common import finish_record, cache_dir, pyplot, readable_log_axes, save_figure
from ..figure import Figure, register
from ..sweep import run_cells

TUNING_INSTANCE_SEEDS = [101, 102]  # the figures' instances are drawn with seed 0
TUNING_DATA_SEED_START = 1000  # the figures' data seeds are 0 … 99
OFFLINE_SETTINGS = [("offline-poor-coverage", "poor"), ("offline-rare-optimal", "poor"), ("linear-d8", "good"),
                    ("linear-d8", "poor")]
OFFLINE_ALPHA_SCALES = [0.1, 0.3, 1.0, 3.0, 10.0]
COVERAGE_SETTINGS = [("tabular-small", None), ("offline-poor-coverage", "poor"), ("linear-d8", "good"),
                     ("linear-d8", "poor")]
ONLINE_INSTANCES = ["tabular-small", "tabular-trap", "linear-d8"]
ONLINE_ALPHA_SCALES = [0.03, 0.1, 0.3, 1.0]
DELTA = 0.05


def _sizes(quick: bool) -> dict:
    if quick:
        return {"offline_N": [400], "offline_seeds": 3, "coverage_N": [100, 400], "coverage_seeds": 10,
                "online_T": 40, "online_seeds": 1, "instance_seeds": TUNING_INSTANCE_SEEDS[:1]}
    return {"offline_N": [400, 1600], "offline_seeds": 5, "coverage_N": [100, 400, 1600], "coverage_seeds": 25,
            "online_T": 150, "online_seeds": 2, "instance_seeds": TUNING_INSTANCE_SEEDS}


def _offline_cell(instance_name, instance_seed, behavior, algorithm, n, seed, options):
    instance = make_instance(instance_name, instance_seed)
    return run_offline(instance, algorithm, n, seed, behavior=behavior, **options).suboptimality


def _coverage_cell(instance_name, instance_seed, behavior, n, seed):
    confidence, theta_star = mle_confidence(make_instance(instance_name, instance_seed), n, seed, behavior=behavior,
                                            delta=DELTA)
    return confidence.distance(theta_star) / confidence.radius  # the c_Γ this draw needs to be covered


def _online_cell(instance_name, instance_seed, algorithm, horizon, seed, options):
    result = run_online(make_instance(instance_name, instance_seed), algorithm, horizon, seed, **options)
    return {"regret": float(result.regret[-1]), "certificate": result.certificate}


def certified_by_instance(cells: list[tuple], outputs: list[dict]) -> dict:
    """{instance: {"rounds_certified", "rounds"}} over the online cells whose VPO step was the certified one.

    Kept per instance because the class matters: tabular rounds certify by branch and bound, linear ones in
    eight dimensions only once the whole-class check closes."""
    split = {}
    for (instance_name, *_), out in zip(cells, outputs, strict=True):
        if out["certificate"].get("method") == "certified":
            counts = split.setdefault(instance_name, {"rounds_certified": 0, "rounds": 0})
            counts["rounds_certified"] += int(out["certificate"]["rounds_certified"])
            counts["rounds"] += int(out["certificate"]["rounds"])
    return split


def compute(quick: bool) -> dict:
    size = _sizes(quick)
    instance_seeds = size["instance_seeds"]
    data_seeds = lambda count: list(range(TUNING_DATA_SEED_START, TUNING_DATA_SEED_START + count))  # noqa: E731
    # offline α: VPO on the grid and the MLE plug-in, per setting × N × instance seed × data seed
    offline_seeds = data_seeds(size["offline_seeds"])
    configs = [("vpo", {"alpha_scale": c}) for c in OFFLINE_ALPHA_SCALES] + [("mle", {})]
    cells = [(inst, i, beh, alg, n, s, opts) for inst, beh in OFFLINE_SETTINGS for i in instance_seeds
             for n in size["offline_N"] for alg, opts in configs for s in offline_seeds]
    offline = np.array(run_cells(_offline_cell, cells, desc="tuning (offline α)", cache_dir=cache_dir("tuning")))
    offline = offline.reshape(len(OFFLINE_SETTINGS), len(instance_seeds), len(size["offline_N"]), len(configs),
                              len(offline_seeds))
    mean = offline.mean(axis=-1)  # (settings, instances, N, configs)
    log_ratio = np.log(mean[..., :-1] / mean[..., -1:])  # VPO(c) / MLE
    offline_score = np.exp(log_ratio.reshape(-1, len(OFFLINE_ALPHA_SCALES)).mean(axis=0))  # geometric mean
    # c_Γ: the coverage quantile per class
    coverage_seeds = data_seeds(size["coverage_seeds"])
    cells = [(inst, i, beh, n, s) for inst, beh in COVERAGE_SETTINGS for i in instance_seeds
             for n in size["coverage_N"] for s in coverage_seeds]
    needed = np.array(run_cells(_coverage_cell, cells, desc="tuning (c_Γ coverage)", cache_dir=cache_dir("tuning")))
    needed = needed.reshape(len(COVERAGE_SETTINGS), -1)
    c_gamma = {}
    for cls in ("tabular", "linear"):
        rows = [k for k, (inst, _) in enumerate(COVERAGE_SETTINGS) if inst.startswith("linear") == (cls == "linear")]
        c_gamma[cls] = float(np.quantile(needed[rows].ravel(), 1 - DELTA))
    # online α: VPO (certified) on the grid and greedy, per instance × instance seed × data seed
    online_seeds = data_seeds(size["online_seeds"])
    configs = [("vpo", {"alpha_scale": c}) for c in ONLINE_ALPHA_SCALES] + [("greedy", {})]
    cells = [(inst, i, alg, size["online_T"], s, opts) for inst in ONLINE_INSTANCES for i in instance_seeds
             for alg, opts in configs for s in online_seeds]
    outputs = run_cells(_online_cell, cells, desc="tuning (online α)", cache_dir=cache_dir("tuning"))
    online = np.array([out["regret"] for out in outputs]).reshape(len(ONLINE_INSTANCES), len(instance_seeds),
                                                                  len(configs), len(online_seeds))
    by_instance = certified_by_instance(cells, outputs)
    online_mean = online.mean(axis=-1)  # (instances, instance seeds, configs)
    online_score = np.exp(np.log(online_mean[..., :-1] / online_mean[..., -1:]).reshape(-1, len(ONLINE_ALPHA_SCALES))
                          .mean(axis=0))
    record = {
        "config": {"quick": quick, "instance_seeds": instance_seeds,
                   "seeds": sorted(set(offline_seeds) | set(coverage_seeds) | set(online_seeds)),
                   "offline": {"settings": OFFLINE_SETTINGS, "N": size["offline_N"], "seeds": offline_seeds,
                               "alpha_scales": OFFLINE_ALPHA_SCALES},
                   "coverage": {"settings": COVERAGE_SETTINGS, "N": size["coverage_N"], "seeds": coverage_seeds,
                                "delta": DELTA},
                   "online": {"instances": ONLINE_INSTANCES, "T": size["online_T"], "seeds": online_seeds,
                              "alpha_scales": ONLINE_ALPHA_SCALES},
                   "classes": "each instance's declared class (BanditInstance.bound)"},
        "results": {
            "offline": {"suboptimality": offline, "score": offline_score},
            "coverage": {"needed_c_gamma": needed},
            "online": {"regret": online, "score": online_score,
                       "rounds_certified": sum(c["rounds_certified"] for c in by_instance.values()),
                       "rounds": sum(c["rounds"] for c in by_instance.values()), "certified_by_instance": by_instance},
        },
        "choice": {"offline_alpha_scale": OFFLINE_ALPHA_SCALES[int(np.argmin(offline_score))],
                   "online_alpha_scale": ONLINE_ALPHA_SCALES[int(np.argmin(online_score))],
                   "c_gamma": c_gamma},
    }
    return finish_record(record, summarize)


def summarize(record: dict) -> dict:
    cfg, results, choice = record["config"], record["results"], record["choice"]
    offline = ", ".join(f"c={c:g}: {s:.3f}" for c, s in zip(cfg["offline"]["alpha_scales"], results["offline"]["score"]))
    online = ", ".join(f"c={c:g}: {s:.3f}" for c, s in zip(cfg["online"]["alpha_scales"], results["online"]["score"]))
    split = results["online"].get("certified_by_instance")  # absent from records made before it was kept
    split = " (" + ", ".join(f"{name} {v['rounds_certified']}/{v['rounds']}" for name, v in split.items()) + ")" \
        if split else ""
    return {
        "offline α = c·√N": f"chosen c = {choice['offline_alpha_scale']:g}; geometric mean of SubOpt(VPO)/SubOpt(MLE) "
                            f"over {len(cfg['offline']['settings'])} settings × N ∈ {cfg['offline']['N']} × "
                            f"{len(cfg['instance_seeds'])} instance seeds: {offline}",
        "c_Γ": f"tabular {choice['c_gamma']['tabular']:.3g}, linear {choice['c_gamma']['linear']:.3g} (the "
               f"{1 - cfg['coverage']['delta']:.0%} quantile of the c_Γ each tuning draw needs to be covered)",
        "online α = c·√T": f"chosen c = {choice['online_alpha_scale']:g}; geometric mean of Regret(VPO)/Regret(greedy) "
                           f"at T = {cfg['online']['T']} over {len(cfg['online']['instances'])} instances × "
                           f"{len(cfg['instance_seeds'])} instance seeds: {online} — VPO rounds certified "
                           f"{results['online']['rounds_certified']}/{results['online']['rounds']}{split}",
    }


def plot(record: dict, path: Path) -> None:
    plt = pyplot()
    cfg, results, choice = record["config"], record["results"], record["choice"]
    fig, (left, middle, right) = plt.subplots(1, 3, figsize=(13, 3.8), layout="constrained")
    left.plot(cfg["offline"]["alpha_scales"], results["offline"]["score"], "o-")
    left.axvline(choice["offline_alpha_scale"], color="C1", ls="--", label="chosen")
    left.set(xscale="log", xlabel="c (α = c·√N)", ylabel="geometric mean SubOpt(VPO) / SubOpt(MLE)",
             title="offline α (pessimistic VPO)")
    needed = np.asarray(results["coverage"]["needed_c_gamma"])
    grid = np.logspace(np.log10(max(needed.min(), 1e-6)), np.log10(needed.max()) + 0.3, 200)
    for k, (inst, beh) in enumerate(cfg["coverage"]["settings"]):
        middle.plot(grid, [(needed[k] <= g).mean() for g in grid], color=f"C{k}", label=f"{inst} ({beh or 'default'})")
    middle.axhline(1 - cfg["coverage"]["delta"], color="k", ls=":")
    middle.set(xscale="log", xlabel="c_Γ", ylabel="coverage of θ*", title="confidence multiplier c_Γ")
    middle.legend(fontsize=7)
    right.plot(cfg["online"]["alpha_scales"], results["online"]["score"], "o-")
    right.axvline(choice["online_alpha_scale"], color="C1", ls="--", label="chosen")
    right.set(xscale="log", xlabel="c (α = c·√T)", ylabel="geometric mean Regret(VPO) / Regret(greedy)",
              title=f"online α (optimistic VPO, T = {cfg['online']['T']})")
    for ax in (left, middle, right):
        readable_log_axes(ax)
    left.legend(fontsize=7)
    right.legend(fontsize=7)
    fig.suptitle(f"tuning on instance seeds {cfg['instance_seeds']} and data seeds ≥ {min(cfg['seeds'])} "
                 f"(no figure uses them)", fontsize=9)
    save_figure(fig, path)


register(Figure("tuning", "the defaults (offline and online α scales, c_Γ) chosen on seeds no figure uses",
                compute, plot, summarize))
