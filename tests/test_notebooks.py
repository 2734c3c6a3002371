"""Every teaching notebook (jupytext percent source) executes top to bottom as a notebook."""

from __future__ import annotations

import importlib.util

from pathlib import Path

import pytest

jupytext = pytest.importorskip("jupytext")
nbclient = pytest.importorskip("nbclient")

NOTEBOOKS = sorted((Path(__file__).parents[1] / "notebooks").glob("[0-9]*.py"))


def test_there_are_notebooks():
    assert len(NOTEBOOKS) >= 3


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_executes_and_shows_its_figures(path, tmp_path, monkeypatch):
    """Runs top to bottom in a kernel (matplotlib's inline backend), and at least one cell shows a picture.

    Where the documentation tools are installed, the site build executes every notebook and tests/test_docs.py
    checks each rendered page for its figures: running them twice would cost the suite ~20 s for nothing.
    """
    if importlib.util.find_spec("mkdocs_jupyter") is not None:
        pytest.skip("executed by the documentation build (tests/test_docs.py checks every notebook page)")
    monkeypatch.delenv("MPLBACKEND", raising=False)
    notebook = jupytext.read(path)
    client = nbclient.NotebookClient(notebook, timeout=300, kernel_name="python3",
                                     resources={"metadata": {"path": str(tmp_path)}})
    client.execute()
    errors = [output for cell in notebook.cells if cell.cell_type == "code"
              for output in cell.get("outputs", []) if output.get("output_type") == "error"]
    assert not errors
    pictures = [output for cell in notebook.cells if cell.cell_type == "code" for output in cell.get("outputs", [])
                if "image/png" in output.get("data", {})]
    assert pictures, f"{path.name} shows no figure inline"
