"""The README's "What the evidence says" block, rendered from the claim verdicts of the committed records.

    python docs/readme_evidence.py           # rewrite the block between the markers in README.md
    python docs/readme_evidence.py --check   # exit 1 when README.md's block is not what the records say

The README never types a verdict: the block is this module's rendering of ``figures/*.json`` (full size, the
current sources), and a test fails when the two differ — so a re-run that changes a verdict changes the README.
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

__all__ = ["BEGIN", "END", "render", "rewrite"]


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
    headline = records.get(HEADLINE)
    if headline is None:
        lines += [f"**Does optimism beat greedy?** ({HEADLINE}: no full-size record yet, `vpo repro {HEADLINE}`)", ""]
    else:
        lines += [f"**Does optimism beat greedy?** ([{HEADLINE}](figures/{HEADLINE}.png))", ""]
        lines += [f"- {row['statement']}: **{row['verdict']}**" for row in headline.get("claims", [])] + [""]
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


def rewrite(readme: Path = ROOT / "README.md", folder: Path = ROOT / "figures", *, check: bool = False) -> bool:
    """Replace the block in ``readme`` by ``render(folder)``; True when it was already current. With ``check`` the
    file is left as it is."""
    text = readme.read_text()
    if BEGIN not in text or END not in text:
        raise ValueError(f"{readme}: the evidence markers are missing; put {BEGIN!r} … {END!r} where the block goes")
    head, rest = text.split(BEGIN, 1)
    _, tail = rest.split(END, 1)
    new = head + render(folder) + tail
    if not check and new != text:
        readme.write_text(new)
    return new == text


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="exit 1 when README.md's block differs from the records")
    args = parser.parse_args(argv)
    current = rewrite(check=args.check)
    if args.check and not current:
        print("README.md: the evidence block is not what the records say; run python docs/readme_evidence.py",
              file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT))
    raise SystemExit(main())
