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
