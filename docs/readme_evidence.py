"""The README's "What the evidence says" block, rendered from the claim verdicts of the committed records.

    python docs/readme_evidence.py           # rewrite the blocks between the markers in README.md and docs/theory.md
    python docs/readme_evidence.py --check   # exit 1 when either block is not what the records say

The README never types a verdict: the block is this module's rendering of ``figures/*.json`` (full size, the
current sources), and a test fails when the two differ — so a re-run that changes a verdict changes the README.
The same goes for the short block in ``docs/theory.md`` §6 that answers the greedy question: the headline figure's
claims and their verdicts, rendered here, never typed.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BEGIN = "<!-- evidence: rendered by docs/readme_evidence.py from the records in figures/; do not edit by hand -->"
END = "<!-- end of evidence -->"
HEADLINE = "optimism-vs-greedy"  # the open question the figures were built to answer: its claims are listed one by one
THEORY = ROOT / "docs" / "theory.md"
THEORY_BEGIN = "<!-- greedy: rendered by docs/readme_evidence.py from figures/optimism-vs-greedy.json; do not edit -->"

__all__ = ["BEGIN", "END", "THEORY_BEGIN", "render", "render_headline", "rewrite", "rewrite_theory"]


def _kind(verdict: str) -> str:
    """A verdict's column: the claims.py wording, one word each."""
    for prefix, kind in (("supported", "supported"), ("not supported", "not supported"),
                         ("contradicted", "contradicted"), ("no difference found", "no difference found"),
                         ("a difference found", "a difference found")):
        if verdict.startswith(prefix):
            return kind
    return "not measured"


COLUMNS = ("supported", "not supported", "contradicted", "no difference found", "a difference found", "not measured")


def _records(folder: Path) -> dict[str, dict]:
    """Full-size records with claims, by figure name, in the claims file's order of figures."""
    from paper_repro.claims import load_claims

    order = list(dict.fromkeys(claim.figure for claim in load_claims()))
    records = {}
    for name in order:
        path = folder / f"{name}.json"
        record = json.loads(path.read_text()) if path.exists() else None
        records[name] = record if record and record.get("config", {}).get("quick") is False else None
    return records


def render(folder: Path = ROOT / "figures") -> str:
    """The block (markers included) for the records in ``folder``."""
    lines = [BEGIN, "",
             "Every comparison the documentation states is pre-registered in `paper_repro/claims.toml` and tested on",
             "the committed records: paired on the same instances and data seeds, two-sided, Holm-adjusted within",
             "its figure, at 5 %. A claim that is not supported, or contradicted, is reported like one that is.",
             ""]
    records = _records(folder)
    lines += _headline_lines(records.get(HEADLINE), f"figures/{HEADLINE}.png")
    lines += ["| figure | claims | " + " | ".join(COLUMNS) + " |", "|---" * (len(COLUMNS) + 2) + "|"]
    for name, record in records.items():
        if record is None:
            lines.append(f"| {name} | no full-size record yet |" + " |" * len(COLUMNS))
            continue
        kinds = [_kind(row["verdict"]) for row in record.get("claims", [])]
        lines.append(f"| [{name}](figures/{name}.png) | {len(kinds)} | "
                     + " | ".join(str(kinds.count(kind)) for kind in COLUMNS) + " |")
    lines += ["", ("Each claim's estimate, interval and adjusted p-value are on the documentation's Claims page and "
                   "in its figure's record."), "", END]
    return "\n".join(lines)


def _headline_lines(record: dict | None, link: str) -> list[str]:
    """The greedy question and the headline figure's claims, each with its verdict."""
    if record is None:
        return [f"**Does optimism beat greedy?** ({HEADLINE}: no full-size record yet, `vpo repro {HEADLINE}`)", ""]
    return ([f"**Does optimism beat greedy?** ([{HEADLINE}]({link}))", ""]
            + [f"- {row['statement']}: **{row['verdict']}**" for row in record.get("claims", [])] + [""])


def render_headline(folder: Path = ROOT / "figures") -> str:
    """The theory page's block (markers included): the headline figure's claims with their verdicts, linking to the
    figure's documentation page."""
    lines = [THEORY_BEGIN, ""] + _headline_lines(_records(folder).get(HEADLINE), f"figures/{HEADLINE}.md")
    lines += ["Each verdict is a paired two-sided test, Holm-adjusted within the figure; the estimates, intervals and "
              "adjusted p-values are on the [Claims](claims.md) page.", "", END]
    return "\n".join(lines)


def _replace_block(path: Path, begin: str, block: str, check: bool) -> bool:
    text = path.read_text()
    if begin not in text or END not in text.split(begin, 1)[-1]:
        raise ValueError(f"{path}: the evidence markers are missing; put {begin!r} … {END!r} where the block goes")
    head, rest = text.split(begin, 1)
    _, tail = rest.split(END, 1)
    new = head + block + tail
    if not check and new != text:
        path.write_text(new)
    return new == text


def rewrite(readme: Path = ROOT / "README.md", folder: Path = ROOT / "figures", *, check: bool = False) -> bool:
    """Replace the block in ``readme`` by ``render(folder)``; True when it was already current. With ``check`` the
    file is left as it is."""
    return _replace_block(readme, BEGIN, render(folder), check)


def rewrite_theory(theory: Path = THEORY, folder: Path = ROOT / "figures", *, check: bool = False) -> bool:
    """Replace the greedy block in ``theory`` by ``render_headline(folder)``; True when it was already current."""
    return _replace_block(theory, THEORY_BEGIN, render_headline(folder), check)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true",
                        help="exit 1 when the README's or theory §6's block differs from the records")
    args = parser.parse_args(argv)
    stale = [path.name for path, current in ((ROOT / "README.md", rewrite(check=args.check)),
                                             (THEORY, rewrite_theory(check=args.check))) if not current]
    if args.check and stale:
        print(f"{', '.join(stale)}: the evidence block is not what the records say; run python docs/readme_evidence.py",
              file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT))
    raise SystemExit(main())
