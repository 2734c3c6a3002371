"""Pages generated at build time (mkdocs-gen-files): the notebooks, the figure pages, the claims, the benchmarks and
the CLI reference — every measured number on the site comes from a record here, never from typed prose.

Nothing here is written into the repository: mkdocs-gen-files keeps the pages in the build only.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import mkdocs_gen_files

os.environ.setdefault("COLUMNS", "100")  # --help wraps at the terminal width: fix it for the page

ROOT = Path(__file__).resolve().parents[1]

from paper_repro.claims import load_claims  # noqa: E402
from paper_repro.registry import figure_sources, load_all  # noqa: E402
from vpo.cli import all_parsers  # noqa: E402

# the teaching notebooks (jupytext sources), rendered and executed by mkdocs-jupyter
for source in sorted((ROOT / "notebooks").glob("[0-9]*.py")):
    with mkdocs_gen_files.open(f"notebooks/{source.name}", "w") as page:
        page.write(source.read_text())


def _p(value: float) -> str:
    return "< 1e-4" if value < 1e-4 else f"{value:.2g}"


def claims_table(rows: list[dict]) -> list[str]:
    """A record's claims as a Markdown table: statement, A − B with its interval, p, Holm-adjusted p, verdict."""
    lines = ["| claim | A − B [95 % interval] | instances × seeds | p | p (Holm) | verdict |", "|---|---|---|---|---|---|"]
    for row in rows:
        if "p_value" not in row:
            lines.append(f"| {row['statement']} | — | — | — | — | {row['verdict']} |")
            continue
        lines.append(f"| {row['statement']} | {row['mean']:+.3g} [{row['low']:+.3g}, {row['high']:+.3g}] | "
                     f"{row['instances']} × {row['seeds']} | {_p(row['p_value'])} | {_p(row['p_holm'])} | "
                     f"**{row['verdict']}** |")
    return lines


def provenance_line(record: dict, current: str) -> tuple[str, bool]:
    provenance = record.get("provenance", {})
    stale = provenance.get("source_hash") != current or not provenance.get("clean", False)
    size = "quick" if record.get("config", {}).get("quick") else "full"
    text = (f"*{size} size; commit `{str(provenance.get('git_commit', 'unknown'))[:12]}`"
            f"{'' if provenance.get('clean') else ' (dirty tree)'}, sources `{provenance.get('source_hash', '—')}`, "
            f"computed in {provenance.get('wall_time_s', '—')} s on {provenance.get('machine', '—')}, "
            f"{provenance.get('created', '')}*")
    return text, stale


figures = load_all()
gallery = ["# Figures", "",
           "Every figure is computed by `vpo repro NAME` (full size) from its module in `paper_repro/figures/`; its",
           "record `figures/NAME.json` holds the config, the seeds, the per-seed samples, the provenance and the",
           "verdicts of its pre-registered claims ([Claims](../claims.md)). The numbers on these pages are read from",
           "the records when the site is built.", "",
           "| figure | what it shows | claims |", "|---|---|---|"]
all_claims = {claim.id: claim for claim in load_claims()}
claim_rows = []
for name, figure in figures.items():
    record_path, image = ROOT / "figures" / f"{name}.json", ROOT / "figures" / f"{name}.png"
    if not record_path.exists():
        gallery.append(f"| {name} | {figure.description} | *no record yet: `vpo repro {name}`* |")
        continue
    record = json.loads(record_path.read_text())
    provenance, stale = provenance_line(record, figure_sources(name))
    verdicts = record.get("claims", [])
    supported = sum(row.get("verdict", "").startswith("supported") for row in verdicts)
    gallery.append(f"| [{name}]({name}.md) | {figure.description} | "
                   f"{f'{supported} of {len(verdicts)} supported' if verdicts else '—'}"
                   f"{' — **stale**' if stale else ''} |")
    lines = [f"# {name}", "", figure.description + ".", ""]
    if stale:
        lines += ["!!! warning \"Stale record\"",
                  "    This record was computed from sources other than this version's (or from a dirty tree); "
                  "`vpo repro --stale` lists it and `vpo repro " + name + "` recomputes it.", ""]
    if figure.hypothesis:
        lines += [f"**Hypothesis tested:** {figure.hypothesis}.", ""]
    if image.exists():
        with mkdocs_gen_files.open(f"figures/{image.name}", "wb") as copy:
            copy.write(image.read_bytes())
        lines += [f"![{name}]({image.name})", ""]
    if verdicts:
        lines += ["## Claims", "", "Pre-registered in `paper_repro/claims.toml`; each is A − B paired on the same "
                  "instances and data seeds, two-sided, Holm-adjusted within this figure.", ""]
        lines += claims_table(verdicts) + [""]
        claim_rows += [(name, row) for row in verdicts]
    lines += ["## Numbers", ""]
    summary = record.get("summary", {})
    for key, text in (summary.items() if isinstance(summary, dict) else []):
        lines.append(f"- **{key}**: {text}")
    config = record.get("config", {})
    lines += ["", "## Config", "", "```json", json.dumps({k: v for k, v in config.items() if k != "tuned"}, indent=1,
                                                          ensure_ascii=False)[:4000], "```", "", provenance, ""]
    with mkdocs_gen_files.open(f"figures/{name}.md", "w") as page:
        page.write("\n".join(lines))
with mkdocs_gen_files.open("figures/index.md", "w") as page:
    page.write("\n".join(gallery) + "\n")

# every claim of every figure on one page
lines = ["# Claims", "",
         "Every comparison the documentation states is listed in `paper_repro/claims.toml` before the run that",
         "decides it, and tested there: A − B paired on the same instances and data seeds, a two-sided t-test on the",
         "instances' mean differences, Holm's adjustment within each figure's claims. *Supported* means an adjusted",
         "p-value below 5 % with the stated sign; anything else is reported as it is. The verdicts below are read",
         "from the records.", ""]
for name in figures:
    rows = [row for figure, row in claim_rows if figure == name]
    if rows:
        lines += [f"## [{name}](figures/{name}.md)", ""] + claims_table(rows) + [""]
unmeasured = [claim for claim in all_claims.values() if claim.figure not in {f for f, _ in claim_rows}]
if unmeasured:
    lines += ["## Not yet measured", ""] + [f"- {claim.statement} (`{claim.figure}`)" for claim in unmeasured] + [""]
with mkdocs_gen_files.open("claims.md", "w") as page:
    page.write("\n".join(lines))

# the benchmarks, from benchmarks/results.json (`vpo bench --record`)
lines = ["# Benchmarks", "",
         "Speed and memory as ratios measured side by side in one run (`vpo bench`; the suites are in",
         "`benchmarks/suites.py`). Each key's goal is the project's; the table is read from",
         "`benchmarks/results.json`, written by `vpo bench --record`.", ""]
results = ROOT / "benchmarks" / "results.json"
if results.exists():
    data = json.loads(results.read_text())
    lines += ["| key | measured | goal | met |", "|---|---|---|---|"]
    for key, goal in data["goals"].items():
        measured = goal["measured"]
        shown = "—" if measured is None else f"{measured:.3g}" if isinstance(measured, float) else str(measured)
        met = {True: "yes", False: "**no**", None: "not measured"}[goal["met"]]
        lines.append(f"| `{key}` | {shown} | {goal['comparison']} {goal['goal']:g} | {met} |")
    machine, provenance = data["machine"], data["provenance"]
    lines += ["", "Every key the run reported:", "", "```json",
              json.dumps({k: v for k, v in data["result"].items() if k != "targets_met"}, indent=1)[:6000], "```", "",
              f"*{machine['processor']}, {machine['cores']} cores, {machine['memory_gib']} GiB, accelerator "
              f"{machine['accelerator']}; Python {machine['python']}, torch {machine['torch']}; commit "
              f"`{str(provenance.get('git_commit'))[:12]}`, {provenance.get('created', '')}*", ""]
else:
    lines += ["*No recorded run yet: `vpo bench --record` writes one.*", ""]
with mkdocs_gen_files.open("benchmarks.md", "w") as page:
    page.write("\n".join(lines))

# the command-line reference, from the parsers themselves
lines = ["# Command line", "", "Generated from the parsers at build time: what `--help` prints, for every command.", ""]
for name, parser in all_parsers():
    lines += [f"## `{name}`", "", "```text", parser.format_help().rstrip(), "```", ""]
with mkdocs_gen_files.open("cli.md", "w") as page:
    page.write("\n".join(lines))
