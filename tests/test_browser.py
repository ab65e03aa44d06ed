"""What a person does in the browser, on real headless Chromium (Debian's) against a real server."""

from __future__ import annotations

import os

import kb_fixtures
import pytest
from datasette.utils import tilde_encode
from kb_fixtures import REVIEW_HTML, XSS_TITLE

from goodpractice import knowledge

CHROMIUM = "/usr/bin/chromium"
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync"]

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(
        not os.path.exists(CHROMIUM),
        reason="BROWSER TESTS SKIPPED: /usr/bin/chromium is missing - install it with "
               "`apt-get install -y chromium` (make test does this)",
    ),
]

kb_site = kb_fixtures.kb_site  # shared fixtures (conftest.py belongs to the lead)
live_server = kb_fixtures.live_server


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=ARGS, headless=True)
        yield b
        b.close()


@pytest.fixture
def page(browser):
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    pg = context.new_page()
    dialogs: list[str] = []
    pg.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
    pg.dialogs = dialogs
    yield pg
    context.close()


def test_search_open_practice_follow_to_review(page, live_server, tmp_path):
    from playwright.sync_api import expect

    page.goto(f"{live_server}/goodpractice/search_practices")
    box = page.locator("input[name=q]")
    box.fill("youth club cadets")
    box.press("Enter")
    link = page.locator("td.col-practice a").first
    expect(link).to_be_visible()
    row = page.locator("tbody tr").first
    expect(row).to_contain_text("Borough Support Unit monthly sessions with a Brent youth club")
    page.screenshot(path=tmp_path / "search.png")

    # a second search: the review's candidate, then through its practice page to the review
    box = page.locator("input[name=q]")
    box.fill("Durham charge")
    box.press("Enter")
    expect(page.locator("tbody tr").first).to_contain_text("Durham: above-peer investment")
    page.locator("td.col-practice a").first.click()
    expect(page.locator("h1")).to_contain_text("review-durham-investigations-charge-rate")
    page.locator("a.review-link").first.click()
    page.wait_for_url(f"**{REVIEW_HTML}")
    expect(page.locator("h1")).to_have_text("Unit review: Durham 2017-18")
    assert page.dialogs == []


def test_table_search_box_and_facets(page, live_server):
    from playwright.sync_api import expect

    page.goto(f"{live_server}/goodpractice/practices")
    page.locator("input[name=_search]").fill("homicide")
    page.locator("input[name=_search]").press("Enter")
    expect(page.locator("h3").first).to_contain_text("where search matches")
    expect(page.locator("tbody")).to_contain_text("Unified command of homicide investigation")
    expect(page.locator(".facet-info[data-column=status]")).to_be_visible()


def test_rows_come_before_column_notes_and_sql(page, live_server):
    from playwright.sync_api import expect

    # The 19 column descriptions fold into a closed disclosure; the rows are on the first screen.
    page.goto(f"{live_server}/goodpractice/practices")
    fold = page.locator("details.column-descriptions-fold")
    expect(fold.locator("summary")).to_have_text("What the columns mean")
    expect(fold.locator("dl.column-descriptions dt").first).to_be_hidden()
    assert page.locator("tbody tr").first.bounding_box()["y"] < 1000
    fold.locator("summary").click()
    expect(fold.locator("dl.column-descriptions dt").first).to_be_visible()
    # Canned queries open on the search form and the results, not a screen of SQL.
    page.goto(f"{live_server}/goodpractice/search_practices?q=cadets")
    expect(page.locator("textarea#sql-editor, pre#sql-query")).to_have_count(0)
    expect(page.locator("tbody")).to_contain_text("Borough Support Unit")


def test_hostile_practice_renders_inert(page, live_server):
    from playwright.sync_api import expect

    pid = knowledge.practice_id(title=XSS_TITLE)
    for url in (f"/goodpractice/practices/{tilde_encode(pid)}", "/goodpractice/practices",
                "/goodpractice/search_practices?q=hostile",
                "/goodpractice/what_works?element=response"):
        page.goto(f"{live_server}{url}")
        page.wait_for_load_state("load")
        assert page.evaluate("() => window.__xss") is None, url
        # the payload is on the page as visible text, not as elements
        assert page.locator("script:has-text('window.__xss')").count() == 0
        assert page.locator("img[onerror]").count() == 0
        assert page.locator("a[href^='javascript:']").count() == 0
    page.goto(f"{live_server}/goodpractice/practices/{tilde_encode(pid)}")
    expect(page.locator("body")).to_contain_text("<script>window.__xss=1;alert(1)</script>")
    expect(page.locator("td.col-summary strong")).to_have_text("summary")  # Markdown still works
    assert page.dialogs == []


def test_the_payload_would_be_caught_if_it_ran(page):
    """Positive control: the same payload, unescaped, sets the flag and opens a dialog."""
    page.set_content(f"<html><body>{kb_fixtures.XSS_SUMMARY}</body></html>")
    page.wait_for_timeout(300)
    assert page.evaluate("() => window.__xss") == 1
    assert page.dialogs and page.dialogs[0] == "1"


HOSTILE_UNIT = '</script><img src=x onerror="window.__xss=1">'


def _chart_page(reviews_dir) -> tuple[str, list[str]]:
    """A review page rendered the way the runner renders one, with three real charts (one with a
    hostile unit name), written into the folder the live server serves. Returns its URL path and
    the charts' descriptions."""
    import nbformat
    import pandas as pd

    import goodpractice as gp
    from goodpractice.compare import compare
    from goodpractice.funnel import funnel
    from goodpractice.plots import funnel_plot, peer_bars, spc_chart
    from goodpractice.reviews.render import render_html
    from goodpractice.spc import xmr

    london = gp.load_example("london")
    rates = london.rates("crime_burglary")
    charts = [
        funnel_plot(funnel(rates[rates["period"] == "2023-12"], kind="rate", multiplier=1000),
                    title="Burglary, 2023-12"),
        spc_chart(xmr(rates[rates["unit"] == "camden"].set_index("period")["rate"].sort_index()),
                  title="Camden: burglary"),
        peer_bars(pd.Series([3.0, 2.0, 1.0], index=["camden", HOSTILE_UNIT, "sutton"]),
                  title="Hostile names stay text"),
    ]
    compare(london, "crime_burglary", "2023-12")  # the same library calls a review makes
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_markdown_cell("# Charts")]
    for chart in charts:
        cell = nbformat.v4.new_code_cell("display(chart)")
        cell.outputs = [nbformat.v4.new_output("display_data", data=chart._repr_mimebundle_())]
        nb.cells.append(cell)
    (reviews_dir / "charts.html").write_text(render_html(nb, "Charts"), encoding="utf-8")
    return "/reviews/charts.html", [c.alt_text() for c in charts]


def test_review_charts_draw_offline_with_descriptions_and_tooltips(page, live_server, kb_site):
    from playwright.sync_api import expect

    path, descriptions = _chart_page(kb_site[1])
    requests: list[str] = []
    page.on("request", lambda r: requests.append(r.url))
    console: list[str] = []
    page.on("console", lambda m: console.append(f"{m.type}: {m.text}"))
    page.goto(f"{live_server}{path}")
    drawn = page.locator("figure.gp-chart [role=graphics-document]")
    expect(drawn).to_have_count(3)
    expect(page.locator("figure.gp-chart svg.marks")).to_have_count(3)
    # Each drawing is announced by the chart's own description.
    labels = [drawn.nth(i).get_attribute("aria-label") for i in range(3)]
    assert labels == descriptions
    # The page fetched nothing but itself: the Vega libraries are inline.
    assert requests == [f"{live_server}{path}"]
    # Hovering a bar names its unit; the hostile name is shown as text and runs nothing.
    bar = page.locator("figure.gp-chart").nth(2).locator("path[aria-roledescription='bar']")
    expect(bar).to_have_count(3)
    bar.nth(1).hover()
    tooltip = page.locator("#vg-tooltip-element")
    expect(tooltip).to_contain_text("onerror")
    assert page.evaluate("window.__xss") is None
    assert page.locator("figure.gp-chart img, #vg-tooltip-element img").count() == 0
    assert HOSTILE_UNIT in page.locator("figure.gp-chart").nth(2).inner_text()
    assert page.dialogs == []
    assert console == [], "no warning or error from the Vega libraries"


def test_an_analyst_opens_a_review_in_jupyterlab_and_its_charts_draw(page, tmp_path):
    # `make lab`: JupyterLab on loopback with the project's kernel; a review's charts are Vega-Lite
    # outputs that JupyterLab draws itself.
    import socket
    import subprocess
    import sys
    import time
    import urllib.request

    import nbformat
    import pandas as pd

    from goodpractice.plots import peer_bars, spc_chart
    from goodpractice.spc import xmr

    charts = [spc_chart(xmr([5.0, 6, 5, 7, 6, 5, 8, 6, 5, 6]), title="Run chart"),
              peer_bars(pd.Series([3.0, 2.0, 1.0], index=["a", "b", "c"]), title="Bars")]
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "goodpractice", "display_name": "goodpractice",
                                 "language": "python"}
    for chart in charts:
        cell = nbformat.v4.new_code_cell("display(chart)")
        cell.outputs = [nbformat.v4.new_output("display_data", data=chart._repr_mimebundle_())]
        nb.cells.append(cell)
    nbformat.write(nb, tmp_path / "review.ipynb")

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    lab = subprocess.Popen(
        [sys.executable, "-m", "jupyterlab", "--no-browser", "--ip=127.0.0.1", f"--port={port}",
         f"--notebook-dir={tmp_path}", "--allow-root", "--IdentityProvider.token=lab-test"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 90
        while True:
            try:
                urllib.request.urlopen(f"{base}/api/status?token=lab-test", timeout=2)
                break
            except OSError:
                assert time.monotonic() < deadline, "JupyterLab did not start"
                time.sleep(0.5)
        page.goto(f"{base}/lab/tree/review.ipynb?token=lab-test")
        page.wait_for_selector(".jp-Notebook", timeout=60_000)
        page.wait_for_selector(".vega-embed canvas.marks", timeout=60_000)
        drawn = page.locator(".vega-embed [role=graphics-document]")
        assert [drawn.nth(i).get_attribute("aria-label") for i in range(drawn.count())] == \
            [c.alt_text() for c in charts]
        widths = page.locator(".vega-embed canvas.marks").evaluate_all("cs => cs.map(c => c.width)")
        assert len(widths) == 2 and min(widths) > 400, widths
        assert page.locator(".jp-Toolbar-kernelName, .jp-KernelName").first.inner_text().strip() \
            == "goodpractice"
    finally:
        lab.terminate()
        lab.wait(timeout=30)
