"""Pre-registered claims: every comparison the README and the documentation state, decided by the records.

``paper_repro/claims.toml`` lists each claim — its figure, the setting, the metric and where it is read, the two
methods, the direction — and is committed before the run that decides it. A figure's record keeps its measurements as
``record["samples"][setting][method][metric]``, an (instances, data seeds) table, so a claim is tested the same way
everywhere: A − B paired on the same instances and seeds (``stats.paired_test``), two-sided, and Holm-adjusted within
the figure's claims. A claim is *supported* when the adjusted p-value is below 5 % and the difference has the stated
sign; otherwise it is *not supported at 5 % after Holm* — said as plainly.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .stats import holm, paired_test

__all__ = ["Claim", "load_claims", "evaluate_claims", "CLAIMS_FILE", "LEVEL"]

CLAIMS_FILE = Path(__file__).with_name("claims.toml")
LEVEL = 0.05  # the family-wise error rate within a figure


@dataclass(frozen=True)
class Claim:
    id: str
    figure: str
    statement: str  # what the documentation says, in words
    setting: str  # a key of the record's samples (an instance family, or a family and a condition)
    metric: str  # a key of a method's samples there (e.g. "regret_T", "subopt_N6400")
    first: str  # A
    second: str  # B
    direction: str  # "less": A < B is claimed; "greater": A > B; "equal": no difference is claimed (equivalence is
    # not tested: the verdict reports whether a difference was found)


def load_claims(path: Path = CLAIMS_FILE) -> list[Claim]:
    """The claims file's entries, checked: every field present, directions known, ids unique."""
    entries = tomllib.loads(Path(path).read_text())["claim"]
    claims, seen = [], set()
    for number, entry in enumerate(entries, start=1):
        try:
            claim = Claim(id=entry["id"], figure=entry["figure"], statement=entry["statement"],
                          setting=entry["setting"], metric=entry["metric"], first=entry["compare"][0],
                          second=entry["compare"][1], direction=entry["direction"])
        except (KeyError, IndexError) as error:
            raise ValueError(f"{path}: claim {number} lacks {error}; each needs id, figure, statement, setting, "
                             f"metric, compare = [A, B], direction") from None
        if claim.direction not in ("less", "greater", "equal"):
            raise ValueError(f"{path}: claim {claim.id!r}: direction must be less, greater or equal")
        if claim.id in seen:
            raise ValueError(f"{path}: claim id {claim.id!r} appears twice")
        seen.add(claim.id)
        claims.append(claim)
    return claims


def evaluate_claims(record: dict, figure: str, claims: list[Claim] | None = None) -> list[dict]:
    """The figure's claims tested on its record: each with its estimate, interval, p-value, Holm-adjusted p-value
    and verdict. Claims whose samples the record lacks (a quick run's smaller grid) are reported as "not measured"."""
    claims = [c for c in (claims if claims is not None else load_claims()) if c.figure == figure]
    samples = record.get("samples", {})
    rows, tested = [], []
    for claim in claims:
        try:
            first = samples[claim.setting][claim.first][claim.metric]
            second = samples[claim.setting][claim.second][claim.metric]
        except KeyError:
            rows.append({"id": claim.id, "statement": claim.statement, "verdict": "not measured"})
            continue
        first, second = _common(first, second)
        test = paired_test(first, second)
        rows.append({"id": claim.id, "statement": claim.statement, "direction": claim.direction, **test})
        tested.append(rows[-1])
    for row, adjusted in zip(tested, holm([row["p_value"] for row in tested])):
        row["p_holm"] = adjusted
        row["verdict"] = _verdict(row, adjusted)
    return rows


def _common(first, second):
    """The two tables on their common instances and data seeds: a figure may run a costly learner on the first few
    data seeds only (the seeds are 0, 1, … for every learner, so the leading columns are the shared ones)."""
    first, second = np.atleast_2d(np.asarray(first, dtype=float)), np.atleast_2d(np.asarray(second, dtype=float))
    instances, seeds = min(first.shape[0], second.shape[0]), min(first.shape[1], second.shape[1])
    return first[:instances, :seeds], second[:instances, :seeds]


def _verdict(row: dict, adjusted: float) -> str:
    significant = adjusted < LEVEL
    if row["direction"] == "equal":
        return "no difference found at 5 % after Holm" if not significant else "a difference found (5 %, Holm)"
    right_sign = row["mean"] < 0 if row["direction"] == "less" else row["mean"] > 0
    if significant and right_sign:
        return "supported (5 %, Holm)"
    if significant:
        return "contradicted: the opposite difference (5 %, Holm)"
    return "not supported at 5 % after Holm"
