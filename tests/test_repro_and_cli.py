"""The figure registry (cache, replot, provenance) and the command line."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest

from paper_repro import registry
from paper_repro.common import atomic_write_json, mean_and_ci
from vpo.cli import main


@pytest.fixture
def toy_figure(monkeypatch):
    calls = []

    def compute(quick):
        calls.append(quick)
        return {"config": {"quick": quick}, "results": {"y": np.arange(3)}, "summary": {"sum": "3"}}

    def plot(record, path):
        path.write_bytes(b"PNG" + bytes(str(record["results"]), "utf8"))

    monkeypatch.setattr(registry, "FIGURES", {"toy": registry.Figure("toy", "a toy", compute, plot)})
    monkeypatch.setattr(registry, "load_all", lambda: registry.FIGURES)
    monkeypatch.setattr(registry, "git_commit", lambda: "f" * 40)  # a clean tree, whatever the checkout's state
    return calls


def test_run_figures_caches_and_records_provenance(tmp_path, toy_figure):
    registry.run_figures(["toy"], quick=True, out=tmp_path, log=lambda _: None)
    record = json.loads((tmp_path / "toy.json").read_text())
    assert record["results"]["y"] == [0, 1, 2]
    assert {"package_version", "git_commit", "wall_time_s"} <= set(record["provenance"])
    registry.run_figures(["toy"], quick=True, out=tmp_path, log=lambda _: None)
    assert toy_figure == [True]  # second run: cached data, compute not called again
    registry.run_figures(["toy"], quick=False, out=tmp_path, log=lambda _: None)
    assert toy_figure == [True, False]  # another size is another config
    registry.run_figures(["toy"], quick=False, out=tmp_path, force=True, log=lambda _: None)
    assert toy_figure == [True, False, False]


def test_a_quick_run_never_replaces_a_full_size_record(tmp_path, toy_figure):
    """Refused before computing anything, naming --out; a quick run elsewhere ends with both sets of numbers."""
    committed = tmp_path / "figures"
    registry.run_figures(["toy"], quick=False, out=committed, log=lambda _: None)
    before = (committed / "toy.json").read_bytes()
    with pytest.raises(ValueError, match="--out"):
        registry.run_figures(["toy"], quick=True, out=committed, force=True, log=lambda _: None)
    assert toy_figure == [False] and (committed / "toy.json").read_bytes() == before
    messages = []
    registry.run_figures(["toy"], quick=True, out=committed / "quick", committed=committed, log=messages.append,
                         verbose=True)
    assert toy_figure == [False, True] and (committed / "toy.json").read_bytes() == before
    table = "\n".join(messages).split("beside the committed")[1]
    assert "quick:     3" in table and "committed: 3" in table


def test_cli_quick_runs_write_to_figures_quick(tmp_path, toy_figure, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert main(["repro", "toy", "--quick"]) == 0
    assert (tmp_path / "figures" / "quick" / "toy.json").exists() and not (tmp_path / "figures" / "toy.json").exists()


def test_replot_needs_cached_data_and_unknown_names_are_refused(tmp_path, toy_figure):
    with pytest.raises(FileNotFoundError, match="--replot"):
        registry.run_figures(["toy"], quick=True, out=tmp_path, replot=True, log=lambda _: None)
    with pytest.raises(ValueError, match="unknown figure"):
        registry.run_figures(["nope"], quick=True, out=tmp_path, log=lambda _: None)


def test_empty_registry_says_so(tmp_path, monkeypatch):
    monkeypatch.setattr(registry, "FIGURES", {})
    monkeypatch.setattr(registry, "load_all", lambda: registry.FIGURES)
    messages = []
    assert registry.run_figures(["all"], quick=True, out=tmp_path, log=messages.append) == []
    assert "empty" in messages[0]


def test_atomic_write_leaves_no_temporary_files(tmp_path):
    atomic_write_json(tmp_path / "a.json", {"x": np.float64(1.5), "y": np.array([1, 2])})
    assert json.loads((tmp_path / "a.json").read_text()) == {"x": 1.5, "y": [1, 2]}
    assert [p.name for p in tmp_path.iterdir()] == ["a.json"]


def test_mean_and_ci_matches_student_t():
    values = np.array([[1.0], [2.0], [3.0], [4.0]])
    mean, half = mean_and_ci(values)
    assert mean[0] == 2.5 and half[0] == pytest.approx(3.182446305 * np.std([1, 2, 3, 4], ddof=1) / 2, rel=1e-6)


def test_paired_difference_matches_scipys_paired_t_test():
    from scipy import stats

    from paper_repro.common import paired_difference

    rng = np.random.default_rng(3)
    first, second = rng.normal(1.0, 1.0, 12), rng.normal(0.4, 1.0, 12)
    result = paired_difference(first, second)
    reference = stats.ttest_rel(first, second)
    interval = reference.confidence_interval(0.95)
    assert result["p_value"] == pytest.approx(reference.pvalue, rel=1e-10)
    assert (result["low"], result["high"]) == pytest.approx((interval.low, interval.high), rel=1e-10)
    with pytest.raises(ValueError, match="per-seed"):
        paired_difference([1.0], [2.0])


def test_a_cached_records_summary_follows_summarize(tmp_path, monkeypatch):
    """A figure with ``summarize``: a cached record whose summary is stale gets the recomputed one, written back."""
    def compute(quick):
        return {"config": {"quick": quick}, "results": {"y": [1, 2]}, "summary": {"sum": "old"}}

    def summarize(record):
        return {"sum": str(sum(record["results"]["y"]))}

    figure = registry.Figure("toy", "a toy", compute, lambda record, path: path.write_bytes(b"PNG"), summarize)
    monkeypatch.setattr(registry, "FIGURES", {"toy": figure})
    monkeypatch.setattr(registry, "load_all", lambda: registry.FIGURES)
    registry.run_figures(["toy"], quick=True, out=tmp_path, log=lambda _: None)
    record = json.loads((tmp_path / "toy.json").read_text())
    assert record["summary"] == {"sum": "3"}  # fresh: summarize's, the one path every summary takes
    record["summary"] = {"sum": "old"}  # a stale summary in a cached record
    (tmp_path / "toy.json").write_text(json.dumps(record))
    registry.run_figures(["toy"], quick=True, out=tmp_path, log=lambda _: None)  # cached: re-summarized
    record = json.loads((tmp_path / "toy.json").read_text())
    assert record["summary"] == {"sum": "3"} and "summary_from" in record["provenance"]


def test_committed_summaries_are_their_records_summarize():
    """Every committed full-size record's summary is what its figure's ``summarize`` computes from its per-seed
    results: the README quotes these summaries, and a hand edit or a stale summary fails here."""
    from pathlib import Path

    figures = registry.load_all()
    checked = 0
    for name, figure in figures.items():
        path = Path(__file__).resolve().parents[1] / "figures" / f"{name}.json"
        if figure.summarize is None or not path.exists():
            continue
        record = json.loads(path.read_text())
        assert figure.summarize(record) == record["summary"], name
        checked += 1
    assert checked >= 4


def test_cross_fitting_scores_each_folds_choice_on_the_other_folds():
    """The tuning protocol by hand: 3 values × 2 folds × 2 draws, the comparator 1 everywhere."""
    from paper_repro.figures.tuning import cross_fit

    loss = np.array([[[1.0, 1.0], [4.0, 4.0]],   # value 0: good on fold 0, bad on fold 1
                     [[2.0, 2.0], [2.0, 2.0]],   # value 1: middling on both
                     [[4.0, 4.0], [1.0, 1.0]]])  # value 2: good on fold 1, bad on fold 0
    fit = cross_fit(loss, np.ones((2, 2)))
    assert fit["score"] == pytest.approx([2.0, 2.0, 2.0])  # geometric means over both folds
    assert fit["chosen"] == 0  # ties: the first
    assert fit["folds"] == [{"chosen": 0, "score_elsewhere": pytest.approx(4.0), "best_elsewhere": pytest.approx(1.0)},
                            {"chosen": 2, "score_elsewhere": pytest.approx(4.0), "best_elsewhere": pytest.approx(1.0)}]


def _all_seed_lists(value):
    """Every list under a key named "seeds" (or ending in "_seeds") anywhere in a record's config."""
    if isinstance(value, dict):
        for key, item in value.items():
            if (key == "seeds" or key.endswith("_seeds")) and isinstance(item, list):
                yield key, item
            else:
                yield from _all_seed_lists(item)
    elif isinstance(value, list):
        for item in value:
            yield from _all_seed_lists(item)


def test_the_tuning_seeds_are_disjoint_from_every_figures_and_the_defaults_are_its_choices():
    """Hyperparameters are chosen on instances and data no figure draws: the tuning record's instance seeds meet no
    figure's, its data seeds are ≥ 1000 and meet no figure's, no figure draws a fixed instance, and the library's
    defaults (vpo_theory.tuned) are the record's choices."""
    import inspect
    import re
    from pathlib import Path

    import vpo_theory as vt
    from paper_repro.cells import FIGURE_INSTANCE_SEEDS
    from paper_repro.figures import tuning
    from vpo_theory.tuned import TUNED

    root = Path(__file__).resolve().parents[1]
    record = json.loads((root / "figures" / "tuning.json").read_text())
    assert record["config"]["quick"] is False
    tuning_instances = set(record["config"]["instance_seeds"])
    assert not tuning_instances & set(FIGURE_INSTANCE_SEEDS)
    tuning_seeds = set(record["config"]["seeds"])
    assert min(tuning_seeds) >= tuning.TUNING_DATA_SEED_START
    checked = 0
    for name, figure in registry.load_all().items():
        if name == "tuning":
            continue
        source = inspect.getsource(inspect.getmodule(figure.compute))
        assert not re.search(r"make_instance\(", source), f"{name} draws a fixed instance instead of a family member"
        path = root / "figures" / f"{name}.json"
        if path.exists():
            config = json.loads(path.read_text())["config"]
            for key, seeds in _all_seed_lists(config):
                pool = tuning_instances if key == "instance_seeds" else tuning_seeds
                assert not pool & set(seeds), f"{name}: config {key} meets the tuning seeds"
                checked += 1
    assert checked >= 10
    for key, value in record["choice"].items():
        assert TUNED[key] == pytest.approx(value, rel=1e-9), key
    assert vt.OnlineOptions().alpha_scale == record["choice"]["online_alpha_scale"]
    assert vt.OfflineOptions().alpha_scale == record["choice"]["offline_alpha_scale"]


def test_the_figures_sizes_meet_the_evidence_standard():
    """online-regret and offline-suboptimality: ≥ 8 instances × ≥ 20 data seeds; optimism-vs-greedy: T ≥ 2000 with
    every learner of the harness under both schemes; every record lists its instance seeds and seeds."""
    from pathlib import Path

    from paper_repro.cells import ONLINE_LEARNERS

    root = Path(__file__).resolve().parents[1]
    records = {name: json.loads((root / "figures" / f"{name}.json").read_text())["config"]
               for name in ("online-regret", "offline-suboptimality", "optimism-vs-greedy")}
    for name in ("online-regret", "offline-suboptimality"):
        assert len(records[name]["instance_seeds"]) >= 8 and len(records[name]["seeds"]) >= 20, name
    long = records["optimism-vs-greedy"]
    assert long["T"] >= 2000 and set(long["learners"]) == set(ONLINE_LEARNERS)
    assert set(long["schemes"]) == {"policy-ref", "policy-policy"}


def test_every_committed_record_comes_from_a_clean_commit_of_the_code_its_figure_runs():
    """No record is stale (`vpo repro --stale` lists nothing): each names a clean commit, and the code its figure runs
    (``registry.figure_sources``) is unchanged since that commit."""
    from pathlib import Path

    folder = Path(__file__).resolve().parents[1] / "figures"
    assert registry.stale_records(folder) == {}
    for path in folder.glob("*.json"):  # (stale_records compared each hash with figure_sources and read "clean")
        assert not json.loads(path.read_text())["provenance"]["git_commit"].endswith("-dirty"), path.name


def test_a_figures_hash_follows_the_code_it_runs_and_no_other():
    """A theory figure's record does not go stale when the LLM stack or another figure changes; the code it runs,
    the record writer and its own claims do count."""
    from pathlib import Path

    from vpo_theory.records import imported_sources

    root = Path(__file__).resolve().parents[1]
    files = {path.relative_to(root).as_posix() for path in imported_sources(
        ["paper_repro.figures.online_regret", "paper_repro.registry"], skip=["paper_repro.figures"])}
    assert {"paper_repro/figures/online_regret.py", "paper_repro/cells.py", "paper_repro/registry.py",
            "paper_repro/claims.py", "vpo_theory/online.py", "vpo_theory/learners/optimistic.py"} <= files, files
    assert not any(name.startswith("vpo_llm/") for name in files)
    assert "paper_repro/figures/llm.py" not in files and "paper_repro/figures/optimism_vs_greedy.py" not in files
    llm = {path.parent.name for path in imported_sources(["paper_repro.figures.llm"])}
    assert "vpo_llm" in llm


def test_stale_records_are_listed_with_the_reason(tmp_path, toy_figure, monkeypatch):
    registry.run_figures(["toy"], quick=True, out=tmp_path, log=lambda _: None)
    record = json.loads((tmp_path / "toy.json").read_text())
    fresh = registry.stale_records(tmp_path)
    if record["provenance"]["clean"]:
        assert fresh == {}
    record["provenance"]["source_hash"] = "0" * 16
    (tmp_path / "toy.json").write_text(json.dumps(record))
    assert "other sources" in registry.stale_records(tmp_path)["toy"]
    record["provenance"].pop("source_hash")
    (tmp_path / "toy.json").write_text(json.dumps(record))
    assert "no source hash" in registry.stale_records(tmp_path)["toy"]
    (tmp_path / "toy.json").unlink()
    assert registry.stale_records(tmp_path) == {"toy": "no record"}


def test_a_record_from_other_sources_is_recomputed_not_reused(tmp_path, toy_figure):
    registry.run_figures(["toy"], quick=True, out=tmp_path, log=lambda _: None)
    record = json.loads((tmp_path / "toy.json").read_text())
    record["provenance"]["source_hash"] = "0" * 16
    (tmp_path / "toy.json").write_text(json.dumps(record))
    registry.run_figures(["toy"], quick=True, out=tmp_path, log=lambda _: None)
    assert toy_figure == [True, True]


def test_a_full_size_run_refuses_a_dirty_tree(tmp_path, toy_figure, monkeypatch):
    monkeypatch.setattr(registry, "git_commit", lambda: "abc-dirty")
    with pytest.raises(ValueError, match="uncommitted changes"):
        registry.run_figures(["toy"], quick=False, out=tmp_path, log=lambda _: None)
    assert toy_figure == []
    registry.run_figures(["toy"], quick=False, out=tmp_path, log=lambda _: None, allow_dirty=True)
    registry.run_figures(["toy"], quick=True, out=tmp_path / "quick", log=lambda _: None)  # quick runs may
    assert toy_figure == [False, True]


def test_the_main_job_prints_one_line_per_figure_and_a_total(tmp_path, toy_figure):
    messages = []
    registry.run_figures(["toy"], quick=True, out=tmp_path, log=messages.append)
    assert len(messages) == 2 and messages[0].startswith("[toy] computed") and "1 figure(s)" in messages[1]


def test_every_registered_figure_has_a_description():
    figures = registry.load_all()
    assert {"offline-suboptimality", "geometry", "confidence-coverage", "alpha-sweep", "calibration"} <= set(figures)
    assert all(f.description for f in figures.values())


def test_cli_version_and_help():
    out = subprocess.run([sys.executable, "-m", "vpo.cli", "--version"], capture_output=True, text=True)
    assert out.returncode == 0 and out.stdout.startswith("vpo ")
    for args in (["--help"], ["repro", "--help"], ["theory", "--help"], ["theory", "offline", "--help"]):
        assert subprocess.run([sys.executable, "-m", "vpo.cli", *args], capture_output=True).returncode == 0


def test_cli_theory_offline_writes_a_record(tmp_path, capsys):
    out = tmp_path / "run.json"
    assert main(["theory", "offline", "--N", "100", "--seeds", "0", "1", "--algorithm", "mle", "--out", str(out)]) == 0
    record = json.loads(out.read_text())
    assert len(record["results"]) == 2 and record["config"]["algorithm"] == "mle"
    assert record["results"][0]["suboptimality"] > 0
    assert "git_commit" in record["provenance"]


@pytest.mark.parametrize("args", [["theory", "offline", "--N", "0"], ["theory", "offline", "--instance", "nope"],
                                  ["theory", "offline", "--algorithm", "dpo"], ["repro", "no-such-figure"]])
def test_cli_bad_arguments_exit_2(args, tmp_path):
    with pytest.raises(SystemExit) as info:
        main(args + (["--out", str(tmp_path)] if args[0] == "repro" else []))
    assert info.value.code == 2


CALLS: list = []
FAIL_ON: list = [None]


def _square_or_fail(x):
    CALLS.append(x)
    if x == FAIL_ON[0]:
        raise KeyboardInterrupt("simulated Ctrl-C")
    return [x * x, float(x)]


def test_interrupted_sweep_resumes_with_identical_results(tmp_path):
    from paper_repro.sweep import run_cells

    cells = [(x,) for x in range(6)]
    uninterrupted = run_cells(_square_or_fail, cells, n_jobs=1)
    cache = tmp_path / "cache"
    FAIL_ON[0] = 3
    try:
        with pytest.raises(KeyboardInterrupt):
            run_cells(_square_or_fail, cells, n_jobs=1, cache_dir=cache)
    finally:
        FAIL_ON[0] = None
    assert len(list(cache.glob("*.json"))) == 3 and not list(cache.glob(".*"))  # cells 0–2 kept, whole
    CALLS.clear()
    resumed = run_cells(_square_or_fail, cells, n_jobs=1, cache_dir=cache)
    assert CALLS == [3, 4, 5]  # only the unfinished cells ran again
    assert [list(np.asarray(r)) for r in resumed] == [list(np.asarray(r)) for r in uninterrupted]


@pytest.mark.slow  # a local dask cluster costs ~15 s to start; CI runs the slow tests after the default suite
def test_dask_backend_on_a_local_cluster_gives_the_joblib_records(tmp_path):
    """The online-regret sweep's cells on a dask.distributed cluster (one worker process started here):
    the same records as joblib, each cell written by the client, and a rerun computes nothing."""
    distributed = pytest.importorskip("distributed")
    from paper_repro.figures.online_regret import _cell
    from paper_repro.sweep import run_cells

    # (setting, learner, instance seed, data seed, horizon, checkpoints)
    cells = [("tabular-small", learner, 0, seed, 20, [5, 10, 20]) for learner in ("vpo", "greedy") for seed in (0, 1)]
    local = run_cells(_cell, cells, n_jobs=2)
    with distributed.LocalCluster(n_workers=1, threads_per_worker=2, processes=True, dashboard_address=None) as cluster:
        cache = tmp_path / "cache"
        on_dask = run_cells(_cell, cells, backend="dask", scheduler=cluster.scheduler_address, cache_dir=cache)
        assert len(list(cache.glob("*.json"))) == len(cells)
        for a, b in zip(on_dask, local):  # everything but the wall time per round
            np.testing.assert_array_equal(a["regret_at"], b["regret_at"])
            assert a["regret_T"] == b["regret_T"] and a["certificate"] == b["certificate"]
    # cluster gone: a rerun must come entirely from the cache
    again = run_cells(_cell, cells, backend="dask", scheduler="tcp://127.0.0.1:1", cache_dir=cache)
    for a, b in zip(again, on_dask):
        assert a == b
    with pytest.raises(ValueError, match="scheduler"):
        run_cells(_cell, cells, backend="dask")


def test_cli_llm_offline_trains_and_resumes(tmp_path):
    pytest.importorskip("transformers")
    out = tmp_path / "run"
    args = ["llm", "offline", "--steps", "4", "--eval-every", "2", "--num-pairs", "32", "--out-dir", str(out)]
    assert main(args) == 0
    record = json.loads((out / "result.json").read_text())
    assert [row["step"] for row in record["history"]] == [0, 2, 4]
    assert main(args[:3] + ["6"] + args[4:]) == 0  # resume to 6 steps from the checkpoint at 4
    assert [row["step"] for row in json.loads((out / "result.json").read_text())["history"]] == [0, 2, 4, 6]
    with pytest.raises(SystemExit) as info:
        main(["llm", "offline", "--loss", "kto"])
    assert info.value.code == 2
