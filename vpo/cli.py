"""The ``vpo`` command line.

    vpo repro [FIGURE ...|all] [--quick]     regenerate figures (data cached as JSON, then plotted)
    vpo theory offline ...                   one offline experiment, result to a JSON file
    vpo theory --list-instances              the named bandit instances
    vpo llm offline ...                      train a tiny LM with vpo_loss on the built-in task

Heavy imports (torch, cvxpy, matplotlib) happen inside the subcommands, so ``vpo --help`` is
instant. Bad arguments exit with status 2 and a message naming the flag.
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass
from pathlib import Path

from vpo_theory.options import option

from . import __version__
from .config_cli import add_command


FIGURES = Path("figures")  # the committed full-size records
QUICK_FIGURES = FIGURES / "quick"  # quick runs (git-ignored)


@dataclass
class ReproRun:
    """``vpo repro``: regenerate the figures (README, section 'Figures'). Each figure's expensive data is cached as
    FIGURE.json (config, seeds, version, git commit, wall time) and plotted to FIGURE.png."""

    list: bool = option(False, "list the registered figures and exit")
    stale: bool = option(False, "list the records in figures/ (or --out) that the tree's sources would not reproduce "
                                "— computed from other sources or a dirty tree — and exit (status 1 if any)")
    quick: bool = option(False, "small sizes: seconds to a few minutes on 2 CPU cores")
    force: bool = option(False, "recompute every record (cached cells of unchanged code are reused)")
    replot: bool = option(False, "only re-plot from cached data")
    out: str = option("", "output folder; empty: figures for full size, figures/quick with --quick (a quick run never "
                          "replaces a full-size record)")
    allow_dirty: bool = option(False, "let a full-size run start from a tree with uncommitted changes (its records "
                                      "are then listed by --stale)")
    verbose: bool = option(False, "print each figure's summary (the numbers its record holds), not only one line "
                                  "per figure")
    backend: str = option("joblib", "where seed × configuration cells run: joblib (this machine) or dask (a cluster)",
                          choices=("joblib", "dask"))
    scheduler: str = option("", "with --backend dask: the scheduler address, e.g. tcp://host:8786 (required there)")
    jobs: int | None = option(None, "joblib processes; none: all cores")


@dataclass
class BenchRun:
    """``vpo bench``: run the suites in benchmarks/ (A/B interleaved, warm-up, medians) and print their ratios."""

    quick: bool = option(False, "fewer repeats and shorter runs")
    json: bool = option(False, "print one JSON line only")
    record: bool = option(False, "also write benchmarks/results.json (the result with each key's goal, the commit and "
                                 "a description of the machine), which the documentation renders; refused with "
                                 "--quick")


def _add_repro(subparsers) -> None:
    parser = add_command(subparsers, "repro", ReproRun, _run_repro,
                          help="regenerate figures into figures/ (data cached next to each PNG)")
    parser.add_argument("figures", nargs="*", default=["all"], metavar="FIGURE",
                        help="figure names, or 'all' (default); see --list")


def _run_repro(args, parser) -> int:
    from paper_repro.registry import load_all, run_figures

    figures = load_all()
    if args.list:
        if not figures:
            print("The figure registry is empty.")
        for name, figure in figures.items():
            print(f"{name:24s} {figure.description}")
        return 0
    if args.stale:
        from paper_repro.registry import stale_records

        stale = stale_records(Path(args.out) if args.out else FIGURES)
        for name, why in stale.items():
            print(f"{name:24s} {why}")
        if not stale:
            print("every record was computed from the tree's sources at a clean commit")
        return 1 if stale else 0
    from paper_repro.sweep import configure

    try:
        configure(backend=args.backend, scheduler=args.scheduler or None, n_jobs=args.jobs)
        out = Path(args.out) if args.out else (QUICK_FIGURES if args.quick else FIGURES)
        from vpo_theory.records import check_output

        check_output(parser, "--out", out)
        run_figures(args.figures, quick=args.quick, out=out, force=args.force, replot=args.replot,
                    committed=FIGURES if args.quick else None, allow_dirty=args.allow_dirty, verbose=args.verbose)
    except ArithmeticError:
        raise
    except (ValueError, FileNotFoundError) as error:
        if type(error).__module__.startswith("numpy"):  # a numerical failure (LinAlgError) is a bug, not bad input
            raise
        parser.error(str(error))
    return 0


def _add_bench(subparsers) -> None:
    add_command(subparsers, "bench", BenchRun, _run_bench,
                 help="speed suites: side-by-side ratios (theory solver, online round cost, LLM steps)")


def _run_bench(args, parser) -> int:
    import json

    if args.record and args.quick:
        parser.error("--record keeps the full-size measurements only: drop --quick")
    from benchmarks.suites import record, run

    result = run(args.quick, log=(lambda _: None) if args.json else print)
    print(json.dumps(result) if args.json else json.dumps(result, indent=1))
    if args.record:
        print(f"wrote {record(result)}", file=sys.stderr)
    return 0


def _add_theory(subparsers) -> None:
    from .theory_cli import add_theory_commands

    add_theory_commands(subparsers)


def _add_llm(subparsers) -> None:
    from .llm_cli import add_llm_commands

    add_llm_commands(subparsers)


_HEAVY = {  # command → (registration that imports its package, one-line help for the top-level listing)
    "theory": (_add_theory, "bandit experiments (vpo_theory)"),
    "llm": (_add_llm, "LLM training with vpo_loss (vpo_llm)"),
}


def build_parser(argv: list[str] | None = None) -> argparse.ArgumentParser:
    """The parser; a command's full flags are registered only when that command is invoked,
    so ``vpo --help`` does not import torch or cvxpy."""
    parser = argparse.ArgumentParser(
        prog="vpo",
        description="Value-Incentivized Preference Optimization (Cen et al., arXiv 2405.19320): "
        "exact bandit theory, LLM training, and the figures that check the claims.",
    )
    parser.add_argument("--version", action="version", version=f"vpo {__version__}")
    subparsers = parser.add_subparsers(title="commands", metavar="COMMAND")
    _add_repro(subparsers)
    _add_bench(subparsers)
    argv = sys.argv[1:] if argv is None else argv
    for name, (register, text) in _HEAVY.items():
        if name in argv[:1]:
            register(subparsers)
        else:
            subparsers.add_parser(name, help=text)
    return parser


def all_parsers() -> list[tuple[str, argparse.ArgumentParser]]:
    """("vpo theory online", its parser) for every command and subcommand, with every flag registered (for the
    CLI reference of the documentation and the tests that walk every parser)."""
    found: dict[str, argparse.ArgumentParser] = {}

    def walk(prefix: str, parser: argparse.ArgumentParser) -> None:
        found[prefix] = parser
        for action in parser._actions:  # argparse keeps subcommands only here
            if isinstance(action, argparse._SubParsersAction):
                for name, child in action.choices.items():
                    walk(f"{prefix} {name}", child)

    walk("vpo", build_parser([]))
    for name in _HEAVY:
        full = build_parser([name])
        for action in full._actions:
            if isinstance(action, argparse._SubParsersAction):
                walk(f"vpo {name}", action.choices[name])
    return list(found.items())


def main(argv: list[str] | None = None) -> int:
    parser = build_parser(argv)
    args = parser.parse_args(argv)
    if not hasattr(args, "handler"):
        parser.print_help()
        return 0
    return args.handler(args, getattr(args, "parser", parser))


if __name__ == "__main__":
    sys.exit(main())
