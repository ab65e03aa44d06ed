"""Review pages: chart specifications embedded safely, the Vega bundle built once per machine
and never required to be writable."""

from __future__ import annotations

import json

import pytest

from goodpractice.reviews import render


def test_chart_json_cannot_end_its_script_element():
    spec = {"title": "</script><script>alert(1)</script><!-- & -->", "data": {"values": "a\n<b>"}}
    text = render._chart_json(spec)
    assert "<" not in text and ">" not in text and "&" not in text
    assert json.loads(text) == spec
    figure = render.chart_figure({**spec, "description": "Chart: <b>bold</b> & co"})
    assert "<noscript><p>Chart: &lt;b&gt;bold&lt;/b&gt; &amp; co</p></noscript>" in figure
    assert figure.count("</script>") == 1  # its own


@pytest.fixture
def fresh_bundle(monkeypatch):
    monkeypatch.setattr(render, "_BUNDLE", None)
    yield
    monkeypatch.setattr(render, "_BUNDLE", None)


def test_the_bundle_is_built_once_then_read_from_the_cache_folder(tmp_path, monkeypatch,
                                                                   fresh_bundle):
    import vl_convert

    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    built = render.chart_bundle()
    assert "gp-chart-spec" in built and len(built) > 500_000  # the loader, with Vega
    files = list((tmp_path / "goodpractice").iterdir())  # the bundle and no temporary file
    assert len(files) == 1 and files[0].name.startswith("vega-bundle-")
    assert files[0].read_text(encoding="utf-8") == built

    def refuse(*args, **kwargs):
        raise AssertionError("rebuilt although the cache folder has it")

    monkeypatch.setattr(vl_convert, "javascript_bundle", refuse)
    monkeypatch.setattr(render, "_BUNDLE", None)  # as a new worker process
    assert render.chart_bundle() == built


def test_an_unwritable_cache_folder_only_costs_the_rebuild(tmp_path, monkeypatch, fresh_bundle):
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("a file where the cache folder would go")
    monkeypatch.setenv("XDG_CACHE_HOME", str(blocker))
    assert "gp-chart-spec" in render.chart_bundle()
    assert blocker.read_text() == "a file where the cache folder would go"


def _notebook(outputs):
    import nbformat

    nb = nbformat.v4.new_notebook()
    nb.metadata["language_info"] = {"name": "python", "pygments_lexer": "ipython3"}
    nb.cells = [nbformat.v4.new_markdown_cell("# A page"),
                nbformat.v4.new_code_cell("x", outputs=outputs)]
    return nb


def test_the_page_marks_up_what_nbconvert_did_and_leaves_the_vega_code_alone():
    """ReviewExporter replaces HTMLExporter's BeautifulSoup pass with two regular expressions:
    read back with BeautifulSoup, every output area is focusable and every image described,
    and the Vega bundle, which itself holds an '<img' in its code, is in the page unchanged."""
    import nbformat
    from bs4 import BeautifulSoup

    from goodpractice.plots import spc_chart
    from goodpractice.spc import xmr

    png = ("iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJ"
           "RU5ErkJggg==")
    chart = spc_chart(xmr([5, 6, 5, 7, 6, 5, 8, 6, 5, 6]), title="Run chart")
    outputs = [
        nbformat.v4.new_output("stream", name="stdout", text="printed\n"),
        nbformat.v4.new_output("display_data", data={"text/html": "<b>html</b>",
                                                     "text/plain": "html"}),
        nbformat.v4.new_output("display_data", data={"image/png": png, "text/plain": "img"}),
        nbformat.v4.new_output("display_data", data={"image/jpeg": png, "text/plain": "jpg"}),
        nbformat.v4.new_output("display_data", data=chart._repr_mimebundle_()),
        nbformat.v4.new_output("display_data", data={"text/markdown": "*said*",
                                                     "text/plain": "said"}),
    ]
    page = render.render_html(_notebook(outputs), "A page")
    soup = BeautifulSoup(page, "html.parser")
    areas = soup.select("div.jp-OutputArea-output")
    assert len(areas) == 6 and all(a.get("tabindex") == "0" for a in areas)
    assert [img.get("alt") for img in soup.select("img")] == [
        "Chart", "No description has been provided for this image"]
    bundle = render.chart_bundle()
    assert "<img" in bundle and bundle in page and page.count(bundle) == 1
    assert render._BUNDLE_MARK not in page
    plain = render.render_html(_notebook(outputs[:3]), "No charts")
    assert '<script type="module">' not in plain and render._BUNDLE_MARK not in plain
