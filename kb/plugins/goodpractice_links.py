"""Datasette plugin for the goodpractice knowledge base: turn stored paths into links.

- ``reviews.html`` and ``practices.review_html`` hold a served path such as ``/reviews/x.html``
  (the rendered review, mounted with ``--static reviews:DIR``): shown as a link to it.
- In canned-query results a column named ``practice`` (a practice id) links to the practice's
  page, and ``recommendation_code`` to the recommendation's page.

Values are escaped; only relative paths under /reviews/ become review links, so a stored value
cannot smuggle in a ``javascript:`` URL.

On table pages the column descriptions (a long list above the rows, e.g. 19 for practices) are
folded into a "What the columns mean" disclosure, so the rows are on the first screen.
"""

import re

from datasette import hookimpl
from datasette.utils import tilde_encode
from markupsafe import Markup, escape

_REVIEW_PATH = re.compile(r"^/reviews/[^\s\"'<>?#]+\.html$")


@hookimpl
def render_cell(value, column, table, database, datasette):
    if not isinstance(value, str) or not value:
        return None
    if column in ("html", "review_html") and table in ("reviews", "practices", None):
        if _REVIEW_PATH.match(value) and ".." not in value:
            return Markup('<a href="{0}" class="review-link">{0}</a>').format(escape(value))
        return None
    if table is None and column in ("practice", "recommendation_code"):
        target = "practices" if column == "practice" else "recommendations"
        href = datasette.urls.table(database, target) + "/" + tilde_encode(value)
        return Markup('<a href="{}">{}</a>').format(href, value)
    return None


# Static text only (no database values), so nothing from the database reaches a script.
_FOLD_DESCRIPTIONS = """
document.querySelectorAll('dl.column-descriptions').forEach(function (dl) {
  var d = document.createElement('details'), s = document.createElement('summary');
  s.textContent = 'What the columns mean';
  d.className = 'column-descriptions-fold';
  d.appendChild(s);
  dl.parentNode.insertBefore(d, dl);
  d.appendChild(dl);
});
"""


@hookimpl
def extra_body_script(view_name):
    if view_name == "table":
        return _FOLD_DESCRIPTIONS
    return None
