"""Family statistics, Holm's adjustment and the pre-registered claims, against independent computations."""

from __future__ import annotations

import itertools
import json
from pathlib import Path

import numpy as np
import pytest
from scipy import stats as scipy_stats

from paper_repro.claims import Claim, evaluate_claims, load_claims
from paper_repro.stats import family_interval, holm, paired_test

ROOT = Path(__file__).resolve().parents[1]


def test_paired_test_is_scipys_paired_t_test_on_the_instances_means():
    rng = np.random.default_rng(0)
    first, second = rng.normal(size=(8, 5)), rng.normal(0.3, 1.0, size=(8, 5))
    result = paired_test(first, second)
    expected = scipy_stats.ttest_rel(first.mean(axis=1), second.mean(axis=1))  # the instance is the unit
    assert result["p_value"] == pytest.approx(expected.pvalue, rel=1e-10)
    assert result["mean"] == pytest.approx((first - second).mean())
    assert result["low"] < result["mean"] < result["high"]
    assert (result["instances"], result["seeds"]) == (8, 5)


def test_with_one_instance_the_seeds_are_the_units():
    rng = np.random.default_rng(1)
    first, second = rng.normal(size=12), rng.normal(size=12)
    assert paired_test(first, second)["p_value"] == pytest.approx(scipy_stats.ttest_rel(first, second).pvalue)


def test_the_hierarchical_interval_counts_the_variation_between_instances():
    """Instances that differ a lot widen the interval; seeds alone (one instance, same spread) do not."""
    rng = np.random.default_rng(2)
    seeds = rng.normal(size=(1, 40)) * 0.1
    between = seeds.reshape(8, 5) + np.arange(8)[:, None]  # the same seed noise, instances 0 … 7 apart
    _, low, high = family_interval(between)
    _, low_one, high_one = family_interval(seeds)
    assert high - low > 10 * (high_one - low_one)
    assert low < between.mean() < high


def _holm_by_definition(p):
    """Holm's procedure stated as rejections: H_(k) is rejected at level a iff p_(j) ≤ a/(m − j + 1) for all j ≤ k.
    The adjusted p-value of H_i is the least level at which it is rejected (searched over the candidate levels)."""
    m = len(p)
    order = sorted(range(m), key=lambda i: p[i])
    candidates = sorted({min(1.0, (m - j) * p[order[j]]) for j in range(m)} | {1.0})
    adjusted = [None] * m
    for level in candidates:
        for k, i in enumerate(order):
            if all(p[order[j]] <= level / (m - j) + 1e-15 for j in range(k + 1)) and adjusted[i] is None:
                adjusted[i] = level
    return adjusted


def test_holm_matches_its_definition():
    rng = np.random.default_rng(3)
    for m in (1, 2, 5, 9):
        p = rng.uniform(0, 0.2, size=m).tolist()
        assert holm(p) == pytest.approx(_holm_by_definition(p), abs=1e-12)
    assert holm([0.01, 0.04, 0.03]) == pytest.approx([0.03, 0.06, 0.06])


def _record(differences: dict) -> dict:
    rng = np.random.default_rng(4)
    samples = {}
    for setting, shift in differences.items():
        base = rng.normal(size=(8, 4))
        samples[setting] = {"a": {"m": (base + shift + 0.01 * rng.normal(size=(8, 4))).tolist()},
                            "b": {"m": base.tolist()}}
    return {"samples": samples}


def test_verdicts_follow_the_sign_and_the_adjusted_p_value():
    claims = [Claim(f"c{k}", "fig", f"claim {k}", setting, "m", "a", "b", direction)
              for k, (setting, direction) in enumerate([("lower", "less"), ("higher", "less"), ("same", "less"),
                                                        ("same", "equal"), ("missing", "less")])]
    record = _record({"lower": -1.0, "higher": 1.0, "same": 0.0})
    rows = {row["id"]: row for row in evaluate_claims(record, "fig", claims)}
    assert rows["c0"]["verdict"].startswith("supported")
    assert rows["c1"]["verdict"].startswith("contradicted")
    assert rows["c2"]["verdict"].startswith("not supported")
    assert rows["c3"]["verdict"].startswith("no difference found")
    assert rows["c4"]["verdict"] == "not measured"
    tested = [rows[f"c{k}"] for k in range(4)]
    assert [row["p_holm"] for row in tested] == pytest.approx(holm([row["p_value"] for row in tested]))


def test_a_costly_learner_on_fewer_seeds_is_compared_on_the_common_ones():
    rng = np.random.default_rng(5)
    full, few = rng.normal(size=(8, 20)), rng.normal(size=(8, 5))
    record = {"samples": {"s": {"a": {"m": full.tolist()}, "b": {"m": few.tolist()}}}}
    row = evaluate_claims(record, "fig", [Claim("c", "fig", "c", "s", "m", "a", "b", "less")])[0]
    assert row["seeds"] == 5 and row["p_value"] == pytest.approx(paired_test(full[:, :5], few)["p_value"])


def test_the_claims_file_is_well_formed_and_names_registered_figures():
    from paper_repro.registry import load_all

    claims = load_claims()
    figures = load_all()
    assert len({claim.id for claim in claims}) == len(claims) >= 20
    assert all(claim.figure in figures for claim in claims)


def test_bad_claims_files_are_refused_naming_the_entry(tmp_path):
    path = tmp_path / "claims.toml"
    path.write_text('[[claim]]\nid = "x"\nfigure = "f"\nstatement = "s"\nsetting = "s"\nmetric = "m"\n'
                    'compare = ["a", "b"]\ndirection = "sideways"\n')
    with pytest.raises(ValueError, match="direction"):
        load_claims(path)
    path.write_text('[[claim]]\nid = "x"\nfigure = "f"\n')
    with pytest.raises(ValueError, match="claim 1 lacks"):
        load_claims(path)


def test_every_claim_is_measured_by_its_full_size_record():
    """A pre-registered claim that its figure's committed record cannot decide would be a claim with no evidence."""
    claims = load_claims()
    for figure, group in itertools.groupby(sorted(claims, key=lambda c: c.figure), key=lambda c: c.figure):
        path = ROOT / "figures" / f"{figure}.json"
        record = json.loads(path.read_text())
        assert record["config"]["quick"] is False, figure
        verdicts = {row["id"]: row for row in record["claims"]}
        for claim in group:
            assert verdicts[claim.id]["verdict"] != "not measured", claim.id
            assert "p_holm" in verdicts[claim.id], claim.id


# ----------------------------------------------------------------------------- the README's evidence block
def _readme_evidence():
    import importlib.util
    from pathlib import Path

    path = Path(__file__).resolve().parents[1] / "docs" / "readme_evidence.py"
    spec = importlib.util.spec_from_file_location("readme_evidence", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_readme_evidence_block_is_what_the_committed_records_say():
    assert _readme_evidence().rewrite(check=True), "run python docs/readme_evidence.py and commit README.md"
    assert _readme_evidence().rewrite_theory(check=True), "run python docs/readme_evidence.py and commit theory.md"


def test_the_evidence_block_counts_each_verdict_and_lists_the_headline_claims(tmp_path):
    evidence = _readme_evidence()
    rows = [{"statement": "A beats B", "verdict": "supported (5 %, Holm)"},
            {"statement": "A beats C", "verdict": "not supported at 5 % after Holm"},
            {"statement": "A beats D", "verdict": "contradicted: the opposite difference (5 %, Holm)"},
            {"statement": "A equals E", "verdict": "no difference found at 5 % after Holm"}]
    (tmp_path / "optimism-vs-greedy.json").write_text(json.dumps({"config": {"quick": False}, "claims": rows}))
    (tmp_path / "online-regret.json").write_text(json.dumps({"config": {"quick": True}, "claims": rows}))  # quick
    text = evidence.render(tmp_path)
    assert "- A beats D: **contradicted: the opposite difference (5 %, Holm)**" in text
    assert "| [optimism-vs-greedy](figures/optimism-vs-greedy.png) | 4 | 1 | 1 | 1 | 1 | 0 | 0 |" in text
    assert "| online-regret | no full-size record yet |" in text  # a quick record is not evidence
    readme = tmp_path / "README.md"
    readme.write_text(f"intro\n{evidence.BEGIN}\nold\n{evidence.END}\noutro\n")
    assert not evidence.rewrite(readme, tmp_path) and evidence.rewrite(readme, tmp_path, check=True)
    assert readme.read_text().startswith("intro\n") and readme.read_text().endswith("\noutro\n")
    theory = tmp_path / "theory.md"
    theory.write_text(f"§6\n{evidence.THEORY_BEGIN}\n{evidence.END}\n§7\n")
    assert not evidence.rewrite_theory(theory, tmp_path) and evidence.rewrite_theory(theory, tmp_path, check=True)
    assert "- A beats D: **contradicted: the opposite difference (5 %, Holm)**" in theory.read_text()
    assert "(figures/optimism-vs-greedy.md)" in theory.read_text() and theory.read_text().endswith("\n§7\n")
