"""Executed review notebooks -> HTML for reviewers (no code), and the index page of all reviews.

One exporter per process (``nbconvert.HTMLExporter`` less two whole-page passes, see
``_exporter``) is built on first use and reused: it costs about a second to build and some 25 ms
a unit review page afterwards (the ``jupyter nbconvert`` command pays the start-up for every
file). A page is one self-contained file that fetches nothing: charts are
Vega-Lite specifications drawn in the reader's browser by the Vega libraries, which a page with
charts carries inline (:func:`chart_bundle`).
"""

from __future__ import annotations

import hashlib
import html
import json
import os
import re
from collections import defaultdict
from pathlib import Path
from typing import Any

from goodpractice.files import atomic_write
from goodpractice.plots import VEGALITE_MIME, VEGALITE_VERSION
from goodpractice.reviews.findings import is_findings_output

#: Scrutiny level of each shipped notebook (DESIGN section 1); a notebook may set its own in
#: its metadata as ``{"goodpractice": {"level": "1"}}``.
LEVELS = {
    "unit_review": "1",
    "cluster_review": "2",
    "challenge_round": "3",
    "exceptions": "4-5",
    "investment_returns": "analysis",
}
LEVEL_NAMES = {
    "1": "Level 1 - unit reviews",
    "2": "Level 2 - cluster reviews",
    "3": "Level 3 - monthly challenge rounds",
    "4-5": "Levels 4-5 - exception reports for performance committees",
    "analysis": "Analyses - return on investment",
}

_EXPORTER = None
TEMPLATES = Path(__file__).resolve().parent.parent / "templates"

# Draws every chart of a page; vl-convert's bundle provides vegaEmbed. SVG, so text stays text
# (searchable, sharp when printed) and the description becomes the drawing's aria-label. The
# menu exports PNG / SVG only: 'editor' would open the online Vega editor. The specifications
# name Vega-Lite 5 (what JupyterLab draws); they are valid Vega-Lite 6 too (tested), which is
# what the bundle's Vega 6 runs without a version warning, hence $schema is dropped here.
_CHART_LOADER = """
for (const figure of document.querySelectorAll("figure.gp-chart")) {
  const {$schema, ...spec} = JSON.parse(figure.querySelector("script.gp-chart-spec").textContent);
  vegaEmbed(figure.querySelector(".gp-chart-view"), spec, {
    mode: "vega-lite",
    renderer: "svg",
    actions: {export: true, source: false, compiled: false, editor: false},
  }).catch((error) => {
    figure.querySelector(".gp-chart-view").textContent =
      "This chart could not be drawn (" + error + "): " + (spec.description || "");
  });
}
"""
_BUNDLE: str | None = None
_BUNDLE_MARK = "/* goodpractice: the Vega bundle */"


def _cache_folder() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "goodpractice"


def chart_bundle() -> str:
    """The Vega, Vega-Lite and Vega-Embed libraries and the page's chart loader as one JavaScript
    module (about 0.9 MB), built offline by vl-convert.

    Building it takes about 1.3 s, so it is kept in memory and in the user's cache folder
    (``$XDG_CACHE_HOME/goodpractice``, as matplotlib keeps its font cache), keyed by the
    vl-convert release and the loader; a folder that cannot be written only costs the rebuild.
    """
    global _BUNDLE
    if _BUNDLE is not None:
        return _BUNDLE
    from importlib.metadata import version

    key = hashlib.sha256(
        f"{version('vl-convert-python')}|{VEGALITE_VERSION}|{_CHART_LOADER}".encode()
    ).hexdigest()[:16]
    path = _cache_folder() / f"vega-bundle-{key}.js"
    try:
        _BUNDLE = path.read_text(encoding="utf-8")
        return _BUNDLE
    except OSError:
        pass
    import vl_convert as vlc

    bundle = vlc.javascript_bundle(_CHART_LOADER, vl_version=VEGALITE_VERSION)
    if "</script" in bundle.lower():  # would end the page's <script> element early
        raise RuntimeError("the Vega bundle contains '</script': it cannot be inlined in a page")
    _BUNDLE = bundle
    try:  # concurrent workers may build it at the same time: each replaces the file whole
        atomic_write(path, bundle)
    except OSError:
        pass
    return _BUNDLE


def _chart_json(spec: Any) -> str:
    """A chart specification as JSON that cannot end its <script> element or open a comment:
    '<', '>' and '&' are written as JSON escapes, so unit names or titles from a data file stay
    data."""
    text = json.dumps(spec, ensure_ascii=False, allow_nan=False)
    return text.replace("&", "\\u0026").replace("<", "\\u003c").replace(">", "\\u003e")


def chart_figure(spec: dict[str, Any]) -> str:
    """The HTML of one chart on a review page: a <figure> holding the specification, drawn by the
    page's chart loader; without JavaScript it shows the chart's description."""
    description = html.escape(str(spec.get("description") or "Chart"))
    return (
        '<figure class="gp-chart">\n<div class="gp-chart-view"></div>\n'
        f'<script type="application/json" class="gp-chart-spec">{_chart_json(spec)}</script>\n'
        f"<noscript><p>{description}</p></noscript>\n</figure>"
    )


def _has_charts(nb: Any) -> bool:
    return any(VEGALITE_MIME in (o.get("data") or {})
               for c in nb.cells if c.get("cell_type") == "code" for o in c.get("outputs", []))


# The lab template's output areas, and images without a description: what nbconvert's
# HTMLExporter marks up through BeautifulSoup (see ReviewExporter).
_OUTPUT_AREA = re.compile(r'<div class="(jp-[\w-]+ (?:[\w-]+ )*jp-OutputArea-output\b)')
_IMG_WITHOUT_ALT = re.compile(r"<img(?![^>]*\salt=)")


def _exporter():
    """The process's HTML exporter (built once; nbconvert's import alone takes a while)."""
    global _EXPORTER
    if _EXPORTER is None:
        from nbconvert import HTMLExporter
        from nbconvert.exporters.templateexporter import TemplateExporter
        from nbconvert.filters.highlight import Highlight2HTML
        from nbconvert.filters.widgetsdatatypefilter import WidgetsDataTypeFilter
        from nbconvert.preprocessors import Preprocessor

        class ReviewExporter(HTMLExporter):
            """HTMLExporter without its two whole-page passes, which were half of a review's
            rendering (a unit review page: 47 ms with them, 24 ms without):

            * after the template, HTMLExporter parses the page with BeautifulSoup to give
              images an alt text and output areas a tabindex, and writes it out again; the
              lab template's markup is known, so two regular expressions do the same;
            * it validates the whole notebook against the schema after each of its thirteen
              preprocessors; the notebook comes from papermill and the one preprocessor of
              ours only removes outputs or swaps a chart for HTML.
            """

            def from_notebook_node(self, nb, resources=None, **kw):
                # HTMLExporter.from_notebook_node (nbconvert 7) up to its BeautifulSoup pass
                lexer = nb.metadata.get("language_info", {}).get("pygments_lexer")
                resources = self._init_resources(resources)
                self.register_filter("highlight_code", self.filters.get(
                    "highlight_code", Highlight2HTML(pygments_lexer=lexer, parent=self)))
                self.register_filter("filter_data_type", WidgetsDataTypeFilter(
                    notebook_metadata=self._nb_metadata, parent=self, resources=resources))
                page, resources = TemplateExporter.from_notebook_node(self, nb, resources, **kw)
                page = _OUTPUT_AREA.sub(r'<div tabindex="0" class="\1', page)
                page = _IMG_WITHOUT_ALT.sub(
                    '<img alt="No description has been provided for this image"', page)
                return page, resources

            def _validate_preprocessor(self, nbc, preprocessor):
                pass

        class HideFindings(Preprocessor):
            """Drop what is not for readers: the structured findings (they are for the knowledge
            base) and stderr streams (library warnings; the kept .ipynb still has them, and the
            same caveats appear in the tables' flag columns). Errors are outputs of their own
            type and stay visible."""

            def preprocess_cell(self, cell, resources, index):
                if cell.get("cell_type") == "code" and cell.get("outputs"):
                    cell.outputs = [
                        o for o in cell.outputs
                        if not is_findings_output(o)
                        and not (o.get("output_type") == "stream" and o.get("name") == "stderr")
                    ]
                    for o in cell.outputs:  # a chart becomes its figure (chart_figure)
                        if VEGALITE_MIME in (o.get("data") or {}):
                            o["data"] = {"text/html": chart_figure(o["data"][VEGALITE_MIME])}
                return cell, resources

        # 'review': the lab template without network scripts, with the pages' chart loader.
        exporter = ReviewExporter(
            template_name="review",
            extra_template_basedirs=[str(TEMPLATES)],
            exclude_input=True,
            exclude_input_prompt=True,
            exclude_output_prompt=True,
        )
        exporter.register_preprocessor(HideFindings(), enabled=True)
        _EXPORTER = exporter
    return _EXPORTER


def render_html(nb: Any, title: str = "") -> str:
    """An executed notebook (NotebookNode, dict or path) as a standalone HTML page without code.

    >>> page = render_html("output/reviews/3f2a9c.ipynb", "Unit review: Durham")  # doctest: +SKIP
    """
    import nbformat

    if isinstance(nb, (str, os.PathLike)):
        nb = nbformat.read(nb, as_version=4)
    elif not isinstance(nb, nbformat.NotebookNode):
        nb = nbformat.from_dict(nb)
    resources: dict[str, Any] = {"metadata": {"name": title or "Review"}}
    charts = _has_charts(nb)
    if charts:  # the template writes the marker; the bundle goes in after the page's markup
        resources["chart_bundle"] = _BUNDLE_MARK  # passes, which must not touch its code
    page, _ = _exporter().from_notebook_node(nb, resources=resources)
    if charts:
        head, _mark, tail = page.rpartition(_BUNDLE_MARK)  # the last one: the page's footer
        page = head + chart_bundle() + tail
    return page


def notebook_level(notebook: str, nb: Any = None) -> str:
    """The scrutiny level of a review ('1', '2', '3', '4-5', 'analysis' or '-')."""
    if nb is not None:
        meta = (nb.get("metadata") or {}).get("goodpractice") or {}
        if meta.get("level"):
            return str(meta["level"])
    return LEVELS.get(notebook, "-")


def _verdict_text(verdicts: list[dict[str, Any]], limit: int = 6) -> str:
    """'crime_total: typical; overall: top' - the unit is left out when every verdict is one
    unit's (the index shows it in its own column), and the overall row reads 'overall'."""
    one_unit = len({v.get("unit") for v in verdicts}) == 1
    parts = []
    for v in verdicts[:limit]:
        keys = ("indicator",) if one_unit else ("unit", "indicator")
        who = " ".join(
            "overall" if v[k] == "__overall__" else str(v[k])
            for k in keys if v.get(k) not in (None, "")
        )
        what = str(v.get("verdict", ""))
        parts.append(f"{who}: {what}" if who else what)
    if len(verdicts) > limit:
        parts.append(f"... and {len(verdicts) - limit} more")
    return "; ".join(parts)


_STYLE = """
body { font-family: system-ui, sans-serif; margin: 2rem auto; max-width: 72rem; color: #1b1b1b; }
h1 { font-size: 1.6rem; } h2 { font-size: 1.25rem; margin-top: 2rem; }
table { border-collapse: collapse; width: 100%; font-size: 0.92rem; }
th, td { text-align: left; padding: 0.35rem 0.6rem; border-bottom: 1px solid #ddd; vertical-align: top; }
th { background: #f3f3f3; }
.failed { color: #a00; font-weight: 600; } .ok { color: #176117; }
.summary { color: #555; }
"""


def index_html(entries: list[dict[str, Any]], out_page: str | Path, title: str = "Reviews") -> str:
    """The index page: reviews grouped by level, then sorted by unit and period, with verdicts.

    ``entries`` are manifest records (keys ``id``, ``notebook``, ``level``, ``title``,
    ``parameters`` (dict), ``status``, ``html``, ``ipynb``, ``verdicts``, ``error``); links are
    relative to the folder of ``out_page``. Every piece of text is escaped.
    """
    here = Path(out_page).parent
    groups: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for e in entries:
        groups[str(e.get("level", "-"))].append(e)
    order = list(LEVEL_NAMES) + sorted(k for k in groups if k not in LEVEL_NAMES)
    n_failed = sum(e.get("status") != "ok" for e in entries)
    esc = html.escape
    out = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f"<title>{esc(title)}</title><style>{_STYLE}</style></head><body>",
        f"<h1>{esc(title)}</h1>",
        (
            f'<p class="summary">{len(entries)} review(s), {len(entries) - n_failed} completed, '
            f"{n_failed} failed.</p>"
        ),
    ]
    for level in order:
        rows = groups.get(level)
        if not rows:
            continue

        def key(e: dict[str, Any]) -> tuple[str, str, str]:
            p = e.get("parameters") or {}
            return (str(p.get("unit", "")), str(p.get("period", "")), str(e.get("title", "")))

        out.append(f"<h2>{esc(LEVEL_NAMES.get(level, 'Level ' + level))}</h2>")
        out.append(
            "<table><thead><tr><th>Review</th><th>Unit</th><th>Period</th><th>Status</th>"
            "<th>Verdicts</th><th>Notebook</th></tr></thead><tbody>"
        )
        for e in sorted(rows, key=key):
            p = e.get("parameters") or {}
            link = os.path.relpath(e["html"], here) if e.get("html") else ""
            nb_link = os.path.relpath(e["ipynb"], here) if e.get("ipynb") else ""
            name = esc(e.get("title") or e.get("notebook", ""))
            status = e.get("status", "")
            status_cell = (
                f'<span class="ok">{esc(status)}</span>' if status == "ok"
                else f'<span class="failed">{esc(status)}</span>'
                + (f"<br>{esc(str(e.get('error', ''))[:300])}" if e.get("error") else "")
            )
            out.append(
                "<tr>"
                + (f'<td><a href="{esc(link)}">{name}</a></td>' if link else f"<td>{name}</td>")
                + f"<td>{esc(str(p.get('unit', p.get('cluster', ''))))}</td>"
                + f"<td>{esc(str(p.get('period', '')))}</td>"
                + f"<td>{status_cell}</td>"
                + f"<td>{esc(_verdict_text(e.get('verdicts') or []))}</td>"
                + (f'<td><a href="{esc(nb_link)}">.ipynb</a></td>' if nb_link else "<td></td>")
                + "</tr>"
            )
        out.append("</tbody></table>")
    out.append("</body></html>")
    return "\n".join(out)
