"""vpo_theory.records: atomic writes (readable by others, never half-written), provenance, writable folders."""

from __future__ import annotations

import json
import stat

import pytest

from vpo_theory import records


def test_atomic_json_is_written_whole_and_readable_by_others(tmp_path):
    path = tmp_path / "sub" / "record.json"
    records.atomic_write_json(path, {"a": 1, "b": [1.5, 2.5]})
    assert json.loads(path.read_text()) == {"a": 1, "b": [1.5, 2.5]}
    assert stat.S_IMODE(path.stat().st_mode) & 0o044 == 0o044  # group and others may read it
    assert not list(path.parent.glob(".*tmp"))


def test_a_failed_write_keeps_the_old_file_and_leaves_no_temporary(tmp_path):
    path = tmp_path / "record.json"
    records.atomic_write_text(path, "old")

    def fail(temporary):
        temporary.write_text("half")
        raise RuntimeError("interrupted")

    with pytest.raises(RuntimeError):
        records.atomic_write(path, fail)
    assert path.read_text() == "old" and not list(tmp_path.glob(".*tmp"))


def test_provenance_names_version_commit_and_machine():
    info = records.provenance()
    assert {"package_version", "git_commit", "python", "numpy", "machine", "created"} <= set(info)
    assert info["package_version"] != ""


def test_writable_folder_gives_the_reason_when_it_is_not(tmp_path):
    assert records.writable_folder(tmp_path / "new" / "folder") is None
    blocker = tmp_path / "file"
    blocker.write_text("")
    assert isinstance(records.writable_folder(blocker / "inside"), str)


def test_a_resumed_sweep_removes_the_temporary_files_a_killed_one_left(tmp_path):
    """SIGKILL mid-write leaves atomic_write's temporary file; the next run_cells over the folder removes it and
    keeps the finished cells."""
    from paper_repro.sweep import run_cells
    from vpo_theory.records import atomic_write_text

    run_cells(abs, [(-1,), (-2,)], cache_dir=tmp_path, n_jobs=1)
    finished = sorted(tmp_path.glob("*.json"))
    (tmp_path / ".cell.json.x1y2.tmp").write_text('{"half')  # what a killed writer leaves
    atomic_write_text(tmp_path / "other.txt", "whole")  # a completed atomic write leaves nothing behind
    assert run_cells(abs, [(-1,), (-2,)], cache_dir=tmp_path, n_jobs=1) == [1, 2]
    assert not list(tmp_path.glob(".*")) and sorted(tmp_path.glob("*.json")) == finished


def test_a_terminated_sweep_leaves_no_worker_running(tmp_path):
    """SIGTERM to the driver of run_cells (a timeout, a scheduler's stop) must not orphan its joblib workers:
    without the handler they kept computing for the rest of their cells, with no one to read the results."""
    import os
    import signal
    import subprocess
    import sys
    import time
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    script = ("import sys; from paper_repro.sweep import run_cells; from tests.processes import sleeping_cell; "
              "run_cells(sleeping_cell, [(sys.argv[1], i) for i in range(4)], n_jobs=2)")
    driver = subprocess.Popen([sys.executable, "-c", script, str(tmp_path)], cwd=root, stderr=subprocess.DEVNULL,
                              env=os.environ | {"PYTHONPATH": str(root)})
    deadline = time.time() + 120
    while len(list(tmp_path.glob("*.pid"))) < 2 and time.time() < deadline:
        time.sleep(0.05)
    workers = [int(path.stem) for path in tmp_path.glob("*.pid")]
    assert len(workers) == 2
    driver.send_signal(signal.SIGTERM)
    driver.wait(timeout=60)
    deadline = time.time() + 30
    alive = workers
    while alive and time.time() < deadline:
        alive = [pid for pid in workers if _running(pid)]
        time.sleep(0.1)
    for pid in alive:  # leave nothing behind whatever the outcome
        os.kill(pid, signal.SIGKILL)
    assert not alive, f"worker processes {alive} outlived their terminated driver"


def _running(pid: int) -> bool:
    import os

    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # a zombie (exited, not yet reaped by its orphaned parent) is not running
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().split(")")[-1].split()[0] != "Z"
    except OSError:
        return False


def test_the_source_hash_follows_the_code_not_its_documentation(tmp_path):
    """A record goes stale when the code that computed it changes — not when a docstring or a comment does; the
    claims file and the declared dependencies count."""
    from vpo_theory.records import SOURCE_FOLDERS, source_hash

    (tmp_path / SOURCE_FOLDERS[0]).mkdir()
    module = tmp_path / SOURCE_FOLDERS[0] / "m.py"
    module.write_text('"""Module."""\n\n\ndef f(x):\n    """Doc."""\n    return x  # why\n')
    (tmp_path / "pyproject.toml").write_text('[project]\nname = "p"\nversion = "1"\ndependencies = ["a"]\n')
    before = source_hash(tmp_path)
    module.write_text('"""Module, reworded."""\n\n\ndef f(x):\n    """Doc,\n    longer."""\n\n    return x\n')
    (tmp_path / "pyproject.toml").write_text('[project]\nname = "p"\nversion = "2"\ndependencies = ["a"]\n')
    assert source_hash(tmp_path) == before
    module.write_text('"""Module."""\n\n\ndef f(x):\n    return x + 1\n')
    assert source_hash(tmp_path) != before
    module.write_text('"""Module."""\n\n\ndef f(x):\n    """Doc."""\n    return x\n')
    assert source_hash(tmp_path) == before
    (tmp_path / "pyproject.toml").write_text('[project]\nname = "p"\nversion = "2"\ndependencies = ["b"]\n')
    assert source_hash(tmp_path) != before


def test_a_modules_sources_are_what_it_imports(tmp_path):
    """``imported_sources``: a module's own file, what it imports (relative, absolute, inside a function), a package
    imported as a whole with every module under it, a parent package's ``__init__`` read but not followed, ``skip``."""
    from vpo_theory.records import SOURCE_FOLDERS, imported_sources, source_hash

    top = tmp_path / SOURCE_FOLDERS[0]
    for name, text in {"__init__.py": "from . import registered\n", "registered.py": "",
                       "sub/__init__.py": "", "sub/a.py": "from . import b\n\ndef f():\n    from ..lazy import g\n",
                       "sub/b.py": "import numpy\n", "lazy/__init__.py": "", "lazy/x.py": "", "lazy/y.py": "",
                       "other.py": "", "sub/skipped.py": ""}.items():
        (top / name).parent.mkdir(parents=True, exist_ok=True)
        (top / name).write_text(text)
    (top / "sub" / "b.py").write_text("import numpy\nfrom . import skipped\n")
    found = {path.relative_to(top).as_posix() for path in imported_sources([f"{top.name}.sub.a"], tmp_path,
                                                                              skip=[f"{top.name}.sub.skipped"])}
    assert found == {"__init__.py", "sub/__init__.py", "sub/a.py", "sub/b.py", "lazy/__init__.py", "lazy/x.py",
                     "lazy/y.py"}  # not registered.py (the parent's import), other.py, skipped.py
    before = source_hash(tmp_path, modules=[f"{top.name}.sub.a"])
    (top / "other.py").write_text("x = 1\n")
    assert source_hash(tmp_path, modules=[f"{top.name}.sub.a"]) == before
    (top / "lazy" / "y.py").write_text("x = 1\n")
    assert source_hash(tmp_path, modules=[f"{top.name}.sub.a"]) != before
