"""``vpo theory ...``: one bandit experiment from the command line, its result saved as JSON.

Each mode's flags are generated from two dataclasses: the run's own (``OfflineRun`` / ``OnlineRun``: which instance,
learner, seeds, output) and the library's options (``OfflineOptions`` / ``OnlineOptions``), so every default is the
library's.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass
from pathlib import Path

from vpo_theory.options import option
from vpo_theory.records import check_output

from .config_cli import add_command, add_config_flags, given_values
from .messages import as_flags

__all__ = ["TheoryRun", "OfflineRun", "OnlineRun", "add_theory_commands"]

SEEDS = (0, 1, 2, 3, 4)


@dataclass
class TheoryRun:
    """What every ``vpo theory`` mode shares: the instance's seed, the data seeds and the output file."""

    instance_seed: int = option(0, "seed that draws the instance from its family")
    seeds: list[int] = option(help="data seeds (each spawns the data's stream and the learner's own)",
                              factory=lambda: list(SEEDS))
    out: str = option("", "JSON file; empty: runs/MODE-INSTANCE-ALGORITHM-TIME.json (online: finished seeds are kept "
                          "in its folder under .cells/)")


@dataclass
class OfflineRun(TheoryRun):
    """``vpo theory offline``: N comparisons from a behaviour policy, one estimator, SubOpt per data seed."""

    instance: str = option("offline-poor-coverage", "a named instance (list them: vpo theory --list-instances)")
    algorithm: str = option("vpo", "the estimator (theory §7, §8)", choices=("vpo", "mle", "lcb", "oracle", "reference"))
    N: int = option(1000, "number of comparisons")


@dataclass
class OnlineRun(TheoryRun):
    """``vpo theory online``: T rounds of one learner per data seed, Regret(T) per seed."""

    instance: str = option("tabular-small", "a named instance (list them: vpo theory --list-instances)")
    algorithm: str = option("vpo", "the learner (theory §6)", choices=(
        "vpo", "greedy", "ucb", "ucb-coverage", "maxinp", "ts", "xpo", "selm", "mixed", "reference", "oracle"))
    T: int = option(600, "number of rounds")
    backend: str = option("joblib", "where the seeds run: this machine's cores or a dask cluster",
                          choices=("joblib", "dask"))
    scheduler: str = option("", "with --backend dask: the scheduler's address, e.g. tcp://host:8786")


def add_theory_commands(subparsers) -> None:
    from vpo_theory.offline import OfflineOptions
    from vpo_theory.online import OnlineOptions

    theory = subparsers.add_parser(
        "theory", help="bandit experiments (vpo_theory)",
        description="Exact KL-regularized bandit experiments with Bradley–Terry feedback.",
    )
    theory.add_argument("--list-instances", action="store_true", help="list the named instances and exit")
    theory.set_defaults(handler=_list_or_help, parser=theory)
    modes = theory.add_subparsers(title="modes", metavar="MODE")
    for mode, run_class, options_class, handler, summary in (
            ("offline", OfflineRun, OfflineOptions, _run_offline_command,
             "one offline run: N comparisons from a behaviour policy, one estimator"),
            ("online", OnlineRun, OnlineOptions, _run_online_command,
             "one online run: T rounds of a learner, regret per seed")):
        parser = add_command(modes, mode, run_class, handler, help=summary, first=("instance", "instance_seed",
                             "algorithm", "N", "T"), after=" The result (with config, seeds, version, commit) is "
                             "written as JSON.")
        add_config_flags(parser, options_class, skip=("behavior",) if mode == "online" else ())
        parser.set_defaults(parser=parser, run_class=run_class, options_class=options_class)


def _list_or_help(args, parser) -> int:
    from vpo_theory.instances import list_instances

    if args.list_instances:
        for name, text in list_instances().items():
            print(f"{name:24s} {text}")
        return 0
    parser.print_help()
    return 0


def _configs(args, parser):
    """(the run's config, the options) from the flags; a bad value exits 2 naming its flag."""
    try:
        run = args.run_class(**given_values(args, args.run_class))
        options = args.options_class(**given_values(args, args.options_class))
    except (ValueError, TypeError) as error:
        parser.error(as_flags(str(error)))
    if min(getattr(run, "N", 1), getattr(run, "T", 1)) < 1:
        parser.error(f"--{'N' if hasattr(run, 'N') else 'T'} must be a positive integer")
    from vpo_theory.instances import make_instance

    try:
        make_instance(run.instance, run.instance_seed)
    except ValueError as error:
        parser.error(f"--instance: {error}")
    mode = "offline" if hasattr(run, "N") else "online"
    out = Path(run.out) if run.out else Path("runs") / f"{mode}-{run.instance}-{run.algorithm}-{time.strftime('%Y%m%d-%H%M%S')}.json"
    check_output(parser, "--out", out.parent)
    return run, options, out


def _options_dict(options) -> dict:
    return {name: value for name, value in asdict(options).items()}


def _run_offline_command(args, parser) -> int:
    from vpo_theory.instances import make_instance
    from vpo_theory.offline import run_offline

    run, options, out = _configs(args, parser)
    instance = make_instance(run.instance, run.instance_seed)
    results, start = [], time.time()
    try:
        for seed in run.seeds:
            result = run_offline(instance, run.algorithm, run.N, seed, **_options_dict(options))
            results.append(result.to_record())
            print(f"seed {seed}: SubOpt = {result.suboptimality:.6g}")
    except ValueError as error:
        parser.error(as_flags(str(error)))
    return _summarize_and_write(run, options, out, results, "SubOpt", [r["suboptimality"] for r in results], start)


def _summarize_and_write(run, options, out: Path, results: list, label: str, values: list, start: float) -> int:
    """Print the mean ± sd of ``values`` over seeds and write the run record (config, results, provenance)."""
    import numpy as np

    from vpo_theory.records import atomic_write_json, provenance

    print(f"mean {label} over {len(values)} seeds: {np.mean(values):.6g} "
          f"(sd {np.std(values, ddof=1) if len(values) > 1 else 0:.3g})")
    record = {"config": asdict(run) | {"options": _options_dict(options)}, "results": results,
              "provenance": provenance() | {"wall_time_s": round(time.time() - start, 2)}}
    atomic_write_json(out, record)
    print(f"wrote {out}")
    return 0


def _online_seed(instance_name: str, instance_seed: int, algorithm: str, T: int, seed: int, options: dict) -> dict:
    from vpo_theory.instances import make_instance
    from vpo_theory.online import run_online

    return run_online(make_instance(instance_name, instance_seed), algorithm, T, seed, **options).to_record()


def _run_online_command(args, parser) -> int:
    from paper_repro.sweep import run_cells

    run, options, out = _configs(args, parser)
    start = time.time()
    cells = [(run.instance, run.instance_seed, run.algorithm, run.T, seed, _options_dict(options))
             for seed in run.seeds]
    try:
        results = run_cells(_online_seed, cells, desc=f"{run.algorithm} online", cache_dir=out.parent / ".cells",
                            backend=run.backend, scheduler=run.scheduler or None)
    except ValueError as error:
        parser.error(as_flags(str(error)))
    for seed, result in zip(run.seeds, results):
        certificate = result.get("certificate", {})
        certified = (f", rounds certified {certificate['rounds_certified']}/{certificate['rounds']}"
                     if "rounds_certified" in certificate else "")
        print(f"seed {seed}: Regret({run.T}) = {result['regret'][-1]:.6g}{certified}")
    return _summarize_and_write(run, options, out, results, f"Regret({run.T})", [r["regret"][-1] for r in results],
                                start)
