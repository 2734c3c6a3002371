"""The figure registry that ``vpo repro`` walks.

A figure (``figure.Figure``) is two functions: ``compute(quick) -> record`` (expensive; its record is
cached as ``figures/NAME.json`` with config and provenance) and ``plot(record, png_path)`` (cheap;
reads the record only). A cached record whose config matches is reused unless ``force``; its summary and its claims'
verdicts (``claims.evaluate_claims``) are recomputed from its per-seed samples on every use.

A full-size record is computed only from a clean tree (its provenance names one commit and the hash of the sources
its figure runs, ``figure_sources``); a record whose ``source_hash`` differs from the tree's is *stale*
(``stale_records``, ``vpo repro --stale``): it is re-run, not re-worded.
"""

from __future__ import annotations

import dataclasses
import json
import time
from pathlib import Path
from typing import Callable

from vpo_theory.records import source_hash

from . import common
from .claims import evaluate_claims, load_claims
from .common import atomic_write_json, git_commit, provenance
from .figure import FIGURES, Figure, register  # noqa: F401  (re-exported)


def load_all() -> dict[str, Figure]:
    """Import every figure module (each registers itself in ``figure.FIGURES``); imported on first use, because
    the figure modules import the heavier parts of the package."""
    from . import figures  # noqa: F401

    return FIGURES


def figure_sources(name: str, claims=None) -> str:
    """The hash of what figure ``name``'s record depends on: the code its module runs, the code that writes records
    (this module and what it imports; the other figures left out) and the figure's pre-registered claims. A change
    anywhere else — another figure, the LLM stack for a theory figure — leaves the record current."""
    figure = load_all()[name]
    claims = [dataclasses.asdict(claim) for claim in (claims if claims is not None else load_claims())
              if claim.figure == name]
    return source_hash(modules=[figure.compute.__module__, __name__], skip=[figures_package()],
                       extra=json.dumps(claims, sort_keys=True))


def figures_package() -> str:
    """The package whose import registers every figure: followed by no figure's hash."""
    return f"{__package__}.figures"


def stale_records(folder: Path) -> dict[str, str]:
    """{figure: why} for every record in ``folder`` that the tree's sources would not reproduce: computed from other
    sources (its ``source_hash`` differs from ``figure_sources``), from a dirty tree, or without a source hash."""
    stale, claims = {}, load_claims()
    for name in load_all():
        current = figure_sources(name, claims)
        path = Path(folder) / f"{name}.json"
        if not path.exists():
            stale[name] = "no record"
            continue
        provenance_ = json.loads(path.read_text()).get("provenance", {})
        if "source_hash" not in provenance_:
            stale[name] = "no source hash (computed before records carried one)"
        elif provenance_["source_hash"] != current:
            stale[name] = f"computed from other sources ({provenance_['source_hash']} ≠ the tree's {current})"
        elif not provenance_.get("clean", False):
            stale[name] = f"computed from a dirty tree ({provenance_.get('git_commit')})"
    return stale


def _with_claims(name: str, record: dict, claims) -> bool:
    """Recompute the record's claims (and its summary); True when either changed."""
    figure = FIGURES[name]
    changed = False
    if figure.summarize is not None:
        summary = figure.summarize(record)
        changed |= summary != record.get("summary")
        record["summary"] = summary
    if any(claim.figure == name for claim in claims):
        verdicts = evaluate_claims(record, name, claims)
        changed |= verdicts != record.get("claims")
        record["claims"] = verdicts
    return changed


def claims_line(record: dict) -> str:
    """"3 supported, 2 not supported, 1 no difference found" for a record's claims ("" without claims)."""
    counts: dict[str, int] = {}
    for row in record.get("claims", []):
        verdict = row["verdict"].split(" (")[0].split(" at 5")[0]
        counts[verdict] = counts.get(verdict, 0) + 1
    return ", ".join(f"{count} {verdict}" for verdict, count in counts.items())


def run_figures(names: list[str], *, quick: bool, out: Path, force: bool = False, replot: bool = False,
                log: Callable[[str], None] = print, committed: Path | None = None, allow_dirty: bool = False,
                verbose: bool = False) -> list[Path]:
    """Compute (or reuse) and plot each figure into ``out``; returns the files written. One line per figure (with
    ``verbose``, its summary too).

    A quick run never replaces a full-size record: it refuses before computing anything. A full-size run refuses a
    dirty tree (uncommitted changes outside figures/) unless ``allow_dirty`` — its records would name no commit that
    reproduces them. With ``committed`` (the folder of the full-size records), a quick run ends with each figure's
    quick numbers beside the committed ones.
    """
    figures = load_all()
    if not figures:
        log("The figure registry is empty: no figure to regenerate yet.")
        return []
    if names in ([], ["all"]):
        names = list(figures)
    unknown = [name for name in names if name not in figures]
    if unknown:
        raise ValueError(f"unknown figure(s) {unknown}; choose from: {', '.join(figures)} or 'all'")
    out = Path(out)
    if quick and not replot:
        full_size = [name for name in names if _is_full_size(out / f"{name}.json")]
        if full_size:
            raise ValueError(f"--out {out} holds full-size records ({', '.join(full_size)}) that a quick run would "
                             f"replace; write quick runs elsewhere (the default for --quick is figures/quick)")
    if not quick and not replot and not allow_dirty and git_commit().endswith("-dirty"):
        raise ValueError("the tree has uncommitted changes: a full-size record must name the commit that computes "
                         "it; commit first (or pass --allow-dirty for a record that `vpo repro --stale` will flag)")
    claims = load_claims()
    written, comparison = [], []
    common.CACHE_ROOT = out / ".cache"
    started = time.time()
    for name in names:
        figure, sources = figures[name], figure_sources(name, claims)
        data_path, png_path = out / f"{name}.json", out / f"{name}.png"
        record, how = None, "cached"
        if data_path.exists() and not force:
            cached = json.loads(data_path.read_text())
            current = cached.get("provenance", {}).get("source_hash") == sources
            if replot or (cached.get("config", {}).get("quick") == quick and current):
                record = cached  # the same size, from the same sources: nothing to recompute
        if record is None:
            if replot:
                raise FileNotFoundError(f"--replot needs cached data {data_path}; run without --replot first")
            start = time.time()
            record = figure.compute(quick)
            record["provenance"] = provenance(sources) | {"wall_time_s": round(time.time() - start, 2)}
            _with_claims(name, record, claims)
            atomic_write_json(data_path, record)
            how = f"computed in {time.time() - start:.0f} s"
        elif _with_claims(name, record, claims):  # a cached record: summary and verdicts follow the current code
            record["provenance"] = record.get("provenance", {}) | {"summary_from": git_commit()}
            atomic_write_json(data_path, record)
            how = "cached; summary and claims recomputed from its samples"
        figure.plot(record, png_path)
        summary = record.get("summary", {})
        verdicts = claims_line(record)
        log(f"[{name}] {how} → {png_path}" + (f"; claims: {verdicts}" if verdicts else ""))
        if verbose:
            for key, text in summary.items():
                log(f"    {key}: {text}")
        written += [png_path, data_path]
        if quick and committed is not None and _is_full_size(Path(committed) / f"{name}.json"):
            full = json.loads((Path(committed) / f"{name}.json").read_text()).get("summary", {})
            comparison += [(name, key, text, full.get(key, "—")) for key, text in summary.items()]
    if comparison and verbose:
        log(f"\nQuick numbers beside the committed full-size ones ({committed}/):")
        for name, key, quick_text, full_text in comparison:
            log(f"  [{name}] {key}\n      quick:     {quick_text}\n      committed: {full_text}")
    log(f"{len(names)} figure(s) in {time.time() - started:.0f} s → {out}/ (summaries: FIGURE.json, or --verbose)")
    return written


def _is_full_size(path: Path) -> bool:
    """Whether ``path`` is a figure record computed at full size."""
    if not path.exists():
        return False
    try:
        return json.loads(path.read_text()).get("config", {}).get("quick") is False
    except (json.JSONDecodeError, AttributeError):
        return False
