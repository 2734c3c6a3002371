"""``vpo theory ...``: one bandit experiment from the command line, its result saved as JSON."""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from vpo_theory.records import check_output

from .messages import as_flags


class DefaultsOnceFormatter(argparse.HelpFormatter):
    """Shows a flag's default once: appended unless the help already says what the default is, or it is None
    (then the help says what None means)."""

    def _get_help_string(self, action):
        text = action.help or ""
        if "default" in text or action.default in (None, argparse.SUPPRESS) or not action.option_strings:
            return text
        return f"{text} (default: %(default)s)"


def add_theory_commands(subparsers) -> None:
    from vpo_theory.offline import OFFLINE_ALGORITHMS, OfflineOptions

    theory = subparsers.add_parser(
        "theory", help="bandit experiments (vpo_theory)",
        description="Exact KL-regularized bandit experiments with Bradley–Terry feedback.",
    )
    theory.add_argument("--list-instances", action="store_true", help="list the named instances and exit")
    theory.set_defaults(handler=_list_or_help, parser=theory)
    modes = theory.add_subparsers(title="modes", metavar="MODE")

    offline = modes.add_parser(
        "offline", help="one offline run: N comparisons from a behaviour policy, one estimator",
        description="Draw N Bradley–Terry comparisons from the behaviour policy, fit one estimator, report "
        "SubOpt(π̂) for each seed; the result (with config, seeds, version, commit) is written as JSON.",
        formatter_class=DefaultsOnceFormatter,
    )
    _add_run_arguments(offline, instance="offline-poor-coverage", algorithms=OFFLINE_ALGORITHMS, role="estimator")
    offline.add_argument("--N", type=int, default=1000, help="number of comparisons")
    offline.add_argument("--alpha", type=float, default=None, help="sum-form VPO weight (default alpha_scale·√N)")
    offline.add_argument("--alpha-scale", type=float, default=1.0, help="c in α = c·√N")
    offline.add_argument("--calibration", default="behavior", choices=["behavior", "ref", "uniform", "chosen"],
                         help="π_cal")
    offline.add_argument("--behavior", default=None, help="behaviour μ: a name of the instance's behaviours (default: the instance's own)")
    offline.add_argument("--bound", type=float, default=None,
                         help="reward class bound (default: --bound-scale × the instance's declared class bound, e.g. 2 for the tabular instances, 4 for linear-d8; see `vpo theory --list-instances`)")
    offline.add_argument("--bound-scale", type=float, default=OfflineOptions.bound_scale, help="see --bound")
    offline.add_argument("--c-gamma", type=float, default=None, help="LCB confidence multiplier c_Γ (default: the class's measured DEFAULT_C_GAMMA, theory §8)")
    offline.add_argument("--out", type=Path, default=None, help="JSON file (default runs/offline-<instance>-<algorithm>-<time>.json)")
    offline.set_defaults(handler=_run_offline_command, parser=offline)

    from vpo_theory.online import ONLINE_ALGORITHMS, SCHEMES, OnlineOptions

    online = modes.add_parser(
        "online", help="one online run: T rounds of the optimistic loop (or a baseline), regret per seed",
        description="Run T rounds of online RLHF (theory §6) with one algorithm for each seed; print Regret(T) and "
        "write the per-round SubOpt and regret (with config, seeds, version, commit) as JSON. Seeds run in "
        "parallel on all cores; every finished seed is saved at once, so a rerun after Ctrl-C resumes.",
        formatter_class=DefaultsOnceFormatter,
    )
    from vpo_theory.certified import DEFAULT_MAX_CELLS

    defaults = OnlineOptions()
    _add_run_arguments(online, instance="tabular-small", algorithms=ONLINE_ALGORITHMS, role="learner")
    online.add_argument("--T", type=int, default=600, help="number of rounds")
    online.add_argument("--alpha", type=float, default=None, help="constant sum-form VPO weight (default alpha_scale·√T)")
    online.add_argument("--alpha-scale", type=float, default=defaults.alpha_scale, help="c in α = c·√T or α_t = c·√t")
    online.add_argument("--alpha-schedule", choices=["constant", "sqrt"], default=defaults.alpha_schedule,
                        help="α constant over the run, or α_t = c·√t")
    online.add_argument("--scheme", choices=SCHEMES, default=defaults.scheme, help="how each round's pair is drawn")
    online.add_argument("--calibration", choices=["ref", "uniform"], default="ref", help="π_cal")
    online.add_argument("--bound", type=float, default=None, help="reward class bound (default: --bound-scale × the instance's declared class bound, e.g. 2 for the tabular instances, 4 for linear-d8; see `vpo theory --list-instances`)")
    online.add_argument("--bound-scale", type=float, default=defaults.bound_scale, help="see --bound")
    online.add_argument("--c-gamma", type=float, default=None, help="UCB confidence multiplier c_Γ (default: the class's measured DEFAULT_C_GAMMA, theory §8)")
    online.add_argument("--optimistic-method", choices=["certified", "local"], default=defaults.optimistic_method,
                        help="VPO's step: the certified global minimum (a proven lower bound every round) or the "
                             "local heuristic (a warm-started SQP step; proves nothing)")
    online.add_argument("--max-cells", type=int, default=None,
                        help="certified only: branch-and-bound cells per solve before a round is recorded as "
                             f"uncertified (default: {DEFAULT_MAX_CELLS} tabular; 1 linear, the whole-class test alone)")
    online.add_argument("--backend", choices=["joblib", "dask"], default="joblib", help="where the seeds run")
    online.add_argument("--scheduler", default=None, help="with --backend dask: the scheduler address (no default: required with dask)")
    online.add_argument("--out", type=Path, default=None,
                        help="JSON file (default runs/online-<instance>-<algorithm>-<time>.json); finished seeds "
                             "are kept in OUT's folder under .cells/")
    online.set_defaults(handler=_run_online_command, parser=online)


def _add_run_arguments(parser, *, instance: str, algorithms, role: str) -> None:
    """The flags every theory run shares: which instance, which algorithm, which data seeds."""
    parser.add_argument("--instance", default=instance, help="a named instance (list them: vpo theory --list-instances)")
    parser.add_argument("--instance-seed", type=int, default=0, help="seed that draws the instance")
    parser.add_argument("--algorithm", choices=algorithms, default="vpo", help=role)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4], help="data seeds")


def _list_or_help(args, parser) -> int:
    from vpo_theory.instances import list_instances

    if args.list_instances:
        for name, text in list_instances().items():
            print(f"{name:24s} {text}")
        return 0
    parser.print_help()
    return 0


def _instance(args, parser, *, size: tuple[str, int]):
    """The named instance (a bad --instance exits 2 naming the flag), after checking the run's size flag."""
    from vpo_theory.instances import make_instance

    try:
        instance = make_instance(args.instance, args.instance_seed)
    except ValueError as error:
        parser.error(f"--instance: {error}")
    if size[1] < 1:
        parser.error(f"--{size[0]} must be a positive integer")
    return instance


def _run_offline_command(args, parser) -> int:

    from vpo_theory.offline import run_offline

    instance = _instance(args, parser, size=("N", args.N))
    out = args.out or Path("runs") / f"offline-{args.instance}-{args.algorithm}-{time.strftime('%Y%m%d-%H%M%S')}.json"
    check_output(parser, "--out", out.parent)
    options = {"alpha": args.alpha, "alpha_scale": args.alpha_scale, "calibration": args.calibration,
               "behavior": args.behavior, "bound": args.bound, "bound_scale": args.bound_scale}
    if args.c_gamma is not None:
        options["c_gamma"] = args.c_gamma
    results = []
    start = time.time()
    try:
        for seed in args.seeds:
            result = run_offline(instance, args.algorithm, args.N, seed, **options)
            results.append(result.to_record())
            print(f"seed {seed}: SubOpt = {result.suboptimality:.6g}")
    except ValueError as error:
        parser.error(as_flags(str(error)))
    return _summarize_and_write(args, out, results, "SubOpt", [r["suboptimality"] for r in results], start)


def _summarize_and_write(args, out: Path, results: list, label: str, values: list, start: float) -> int:
    """Print the mean ± sd of ``values`` over seeds and write the run record (config, results, provenance)."""
    import numpy as np

    from vpo_theory.records import atomic_write_json, provenance

    print(f"mean {label} over {len(values)} seeds: {np.mean(values):.6g} "
          f"(sd {np.std(values, ddof=1) if len(values) > 1 else 0:.3g})")
    record = {"config": {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()
                         if k not in ("handler", "parser")},
              "results": results, "provenance": provenance() | {"wall_time_s": round(time.time() - start, 2)}}
    atomic_write_json(out, record)
    print(f"wrote {out}")
    return 0


def _online_seed(instance_name: str, instance_seed: int, algorithm: str, T: int, seed: int, options: dict) -> dict:
    from vpo_theory.instances import make_instance
    from vpo_theory.online import run_online

    return run_online(make_instance(instance_name, instance_seed), algorithm, T, seed, **options).to_record()


def _run_online_command(args, parser) -> int:

    from paper_repro.sweep import run_cells
    from vpo_theory.online import OnlineOptions

    _instance(args, parser, size=("T", args.T))
    out = args.out or Path("runs") / f"online-{args.instance}-{args.algorithm}-{time.strftime('%Y%m%d-%H%M%S')}.json"
    check_output(parser, "--out", out.parent)
    options = {"alpha": args.alpha, "alpha_scale": args.alpha_scale, "alpha_schedule": args.alpha_schedule,
               "scheme": args.scheme, "calibration": args.calibration, "bound": args.bound,
               "bound_scale": args.bound_scale, "c_gamma": args.c_gamma, "optimistic_method": args.optimistic_method,
               "max_cells": args.max_cells}
    try:
        OnlineOptions(**options)  # every option checked before any work starts
    except ValueError as error:
        parser.error(as_flags(str(error)))
    start = time.time()
    cells = [(args.instance, args.instance_seed, args.algorithm, args.T, seed, options) for seed in args.seeds]
    try:
        results = run_cells(_online_seed, cells, desc=f"{args.algorithm} online", cache_dir=out.parent / ".cells",
                            backend=args.backend, scheduler=args.scheduler)
    except ValueError as error:
        parser.error(as_flags(str(error)))
    for seed, result in zip(args.seeds, results):
        certificate = result.get("certificate", {})
        certified = (f", rounds certified {certificate['rounds_certified']}/{certificate['rounds']}"
                     if "rounds_certified" in certificate else "")
        print(f"seed {seed}: Regret({args.T}) = {result['regret'][-1]:.6g}{certified}")
    return _summarize_and_write(args, out, results, f"Regret({args.T})", [r["regret"][-1] for r in results], start)
