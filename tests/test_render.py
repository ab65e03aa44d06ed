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
