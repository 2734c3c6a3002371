"""Every Python code block of the README and the hand-written documentation pages runs as written.

Each block runs in a fresh interpreter in an empty folder (what a reader pasting it gets); the blocks that train a
language model through TRL run under the ``slow`` marker. The shell blocks are the set-up commands, which CI runs
(`.ci/run` executes the README's test command; a test below checks they agree).
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PAGES = [ROOT / "README.md"] + sorted(p for p in (ROOT / "docs").glob("*.md"))


def _blocks():
    found = []
    for page in PAGES:
        text = page.read_text()
        for match in re.finditer(r"^```python\n(.*?)^```", text, flags=re.S | re.M):
            line = text[:match.start()].count("\n") + 1
            code = match.group(1)
            slow = "vpo_llm" in code or "import datasets" in code
            marks = [pytest.mark.slow] if slow else []
            found.append(pytest.param(code, id=f"{page.relative_to(ROOT)}:{line}", marks=marks))
    return found


BLOCKS = _blocks()


def test_there_are_blocks_to_run():
    assert len(BLOCKS) >= 5


@pytest.mark.parametrize("code", BLOCKS)
def test_the_block_runs_as_written(code, tmp_path):
    env = os.environ | {"MPLBACKEND": "Agg", "PYTHONPATH": str(ROOT), "TQDM_DISABLE": "1"}
    run = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True, timeout=600,
                         env=env)
    assert run.returncode == 0, f"the block failed:\n{run.stderr[-3000:]}"


def test_the_readme_test_command_is_the_one_ci_runs():
    readme = (ROOT / "README.md").read_text()
    ci = (ROOT / ".ci" / "run").read_text()
    command = next(line for line in ci.splitlines() if line.startswith("python -m pip install torch"))
    assert command.split(" && python -m pytest")[0] in readme
    assert 'python -m pip install -e ".[all]" && python -m pytest' in readme
    assert "vpo repro all --quick" in readme
