"""The documentation site: it builds with warnings as errors, and in a real browser (headless Chromium) a
notebook page shows its figures and the search finds `vpo_loss`."""

from __future__ import annotations

import functools
import http.server
import shutil
import subprocess
import sys
import threading
from pathlib import Path

import pytest

pytest.importorskip("mkdocs")
pytest.importorskip("mkdocs_jupyter")

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOK_PAGE = "notebooks/01_optimism_vs_pessimism/index.html"

# building the site executes every notebook (tens of seconds on two cores): a slow check, run by CI after the rest
pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def site(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("site")
    build = subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "-d", str(out)], cwd=ROOT,
                           capture_output=True, text=True, timeout=900)
    assert build.returncode == 0, f"mkdocs build --strict failed:\n{build.stderr[-4000:]}"
    return out


def test_site_builds_strictly_with_every_page(site):
    for page in ["index.html", "theory/index.html", "figures/index.html", "cli/index.html", "use-with-trl/index.html",
                 "reference/vpo_theory/index.html", NOTEBOOK_PAGE, "claims/index.html", "benchmarks/index.html",
                 "first-five-minutes/index.html", "assets/katex/katex.min.js"]:
        assert (site / page).exists(), page
    cli = (site / "cli/index.html").read_text()
    assert "vpo theory online" in cli and "--optimistic-method" in cli  # generated from the parsers
    api = (site / "reference/vpo_theory/index.html").read_text()
    assert "log_optimal_policy" in api and "fit_vpo" in api  # generated from the docstrings
    notebooks = sorted((ROOT / "notebooks").glob("[0-9]*.py"))
    assert len(notebooks) >= 3
    for source in notebooks:  # executed at build time (allow_errors: false), figures embedded in every page
        page = (site / "notebooks" / source.stem / "index.html").read_text()
        assert page.count("data:image/png") >= 1, f"{source.name} shows no figure"
    assert (site / NOTEBOOK_PAGE).read_text().count("data:image/png") >= 2


def test_figure_pages_and_claims_are_rendered_from_the_records(site):
    """Each figure with a record has a page with its picture, its hypothesis and every claim's adjusted p-value, read
    from the record; the claims page holds every claim of the claims file."""
    import json

    from paper_repro.claims import load_claims

    claims = load_claims()
    claims_page = (site / "claims/index.html").read_text()
    for record_path in sorted((ROOT / "figures").glob("*.json")):
        record = json.loads(record_path.read_text())
        page = (site / "figures" / record_path.stem / "index.html").read_text()
        assert f"{record_path.stem}.png" in page
        for row in record.get("claims", []):
            assert row["statement"].split(",")[0] in page
            if "p_holm" in row:
                holm = "&lt; 1e-4" if row["p_holm"] < 1e-4 else f"{row['p_holm']:.2g}"
                assert holm in page and holm in claims_page, (record_path.stem, row["id"])
    measured = {row["id"] for path in (ROOT / "figures").glob("*.json")
                for row in json.loads(path.read_text()).get("claims", [])}
    assert {claim.id for claim in claims} <= measured or "Not yet measured" in claims_page
    assert "benchmarks/results.json" in (site / "benchmarks/index.html").read_text()


def _chromium() -> str | None:
    return next((path for name in ("chromium", "chromium-browser", "google-chrome") if (path := shutil.which(name))),
                None)


@pytest.fixture(scope="module")
def served(site):
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(site))
    handler.log_message = lambda *args, **kwargs: None
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


def test_a_browser_sees_the_notebook_figures_and_search_finds_vpo_loss(served, tmp_path):
    playwright = pytest.importorskip("playwright.sync_api")
    executable = _chromium()
    if executable is None:
        pytest.skip("no Chromium on this machine (Debian: apt-get install chromium; .ci/run installs it)")
    with playwright.sync_playwright() as driver:
        browser = driver.chromium.launch(executable_path=executable, args=["--no-sandbox", "--disable-gpu"])
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        page.goto(f"{served}/{NOTEBOOK_PAGE}", wait_until="networkidle")
        rendered = page.evaluate("() => Array.from(document.images).filter("
                                 "img => img.src.startsWith('data:image/png') && img.complete && img.naturalWidth > 100"
                                 ").length")
        assert rendered >= 2, "the notebook page shows no rendered figure"
        page.screenshot(path=str(tmp_path / "notebook.png"), full_page=False)

        page.goto(f"{served}/theory/index.html", wait_until="networkidle")  # maths rendered by the site's KaTeX
        rendered_maths = page.evaluate("() => document.querySelectorAll('.katex').length")
        raw = page.evaluate("() => document.querySelectorAll('.arithmatex:not(:has(.katex))').length")
        cut = page.evaluate("() => Array.from(document.querySelectorAll('pre > code')).filter("
                            "c => c.scrollWidth > c.clientWidth + 1 && getComputedStyle(c).overflowX === 'visible'"
                            ").length")
        page.screenshot(path=str(tmp_path / "theory.png"), full_page=False)
        page.goto(f"{served}/use-with-trl/index.html", wait_until="networkidle")
        cells = page.evaluate("() => Array.from(document.querySelectorAll('td code')).filter("
                              "c => c.getClientRects().length > 1).length")  # a name broken across lines
        page.screenshot(path=str(tmp_path / "trl.png"), full_page=True)

        page.goto(f"{served}/index.html", wait_until="networkidle")
        page.click("input.md-search__input", timeout=10_000)
        page.keyboard.type("vpo_loss")  # typed key by key: the search listens to key events
        page.wait_for_selector(".md-search-result__item", timeout=20_000)
        results = page.inner_text(".md-search-result")
        page.screenshot(path=str(tmp_path / "search.png"))
        browser.close()
    assert "vpo_loss" in results
    assert rendered_maths >= 10 and raw == 0, "the theory page's maths is not rendered"
    assert cut == 0, "a code block is cut instead of scrolling"
    assert cells == 0, "a table cell breaks a name across lines"
