"""The benchmark harness: interleaved timing returns consistent medians and ratios (no timing asserted)."""

from __future__ import annotations

from benchmarks.suites import TARGETS, interleaved


def test_interleaved_alternates_and_reports_the_ratio_of_medians():
    calls = []
    result = interleaved(lambda: calls.append("a"), lambda: calls.append("b"), repeats=3, warmup=1)
    assert calls == ["a", "b"] * 4  # warm-up pair, then strictly alternating
    assert result["ratio"] == result["a_s"] / result["b_s"]


def test_every_target_names_a_key_some_suite_reports():
    import inspect

    import benchmarks.suites as suites

    source = inspect.getsource(suites)
    assert all(f'"{key}"' in source.split("TARGETS")[0] for key in TARGETS)


def test_saved_activation_bytes_counts_what_autograd_keeps():
    """x·w saves both factors (each storage once); exp saves its output; no_grad saves nothing."""
    import torch

    from benchmarks.suites import saved_activation_bytes

    x = torch.randn(1000, dtype=torch.float64, requires_grad=True)
    w = torch.randn(1000, dtype=torch.float64, requires_grad=True)
    assert saved_activation_bytes(lambda: (x * w).sum().backward()) == 2 * 8000
    assert saved_activation_bytes(lambda: (x * x).sum().backward()) == 8000  # one storage, counted once
    assert saved_activation_bytes(lambda: torch.exp(x).sum().backward()) == 8000
    with torch.no_grad():
        assert saved_activation_bytes(lambda: (x * w).sum()) == 0


def test_cuda_suite_says_why_it_did_not_run_on_cpu():
    import torch

    from benchmarks.suites import llm_cuda_throughput

    if torch.cuda.is_available():
        result = llm_cuda_throughput(quick=True)
        assert result["llm_cuda_tokens_per_s"] > 0
    else:
        assert llm_cuda_throughput(quick=True) == {"llm_cuda_skipped": "no CUDA device"}


def test_record_writes_the_result_with_its_goals_machine_and_commit(tmp_path):
    import json

    from benchmarks.suites import TARGETS, record

    key = next(iter(TARGETS))
    path = record({"quick": False, key: 1.0, "targets_met": {key: True}}, tmp_path / "results.json")
    written = json.loads(path.read_text())
    assert written["goals"][key] == {"comparison": TARGETS[key][0], "goal": TARGETS[key][1], "measured": 1.0,
                                     "met": True}
    assert set(TARGETS) == set(written["goals"])
    assert {"processor", "cores", "accelerator"} <= set(written["machine"]) and "git_commit" in written["provenance"]


def test_bench_record_refuses_quick_sizes():
    import subprocess
    import sys

    run = subprocess.run([sys.executable, "-m", "vpo.cli", "bench", "--quick", "--record"], capture_output=True,
                         text=True, timeout=60)
    assert run.returncode == 2 and "--record" in run.stderr
