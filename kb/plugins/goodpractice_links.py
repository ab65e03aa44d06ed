"""Datasette plugin for the goodpractice knowledge base: turn stored paths into links.

- ``reviews.html`` and ``practices.review_html`` hold a served path such as ``/reviews/x.html``
  (the rendered review, mounted with ``--static reviews:DIR``): shown as a link to it.
- In canned-query results a column named ``practice`` (a practice id) links to the practice's
  page, and ``recommendation_code`` to the recommendation's page.

Values are escaped; only relative paths under /reviews/ become review links, so a stored value
cannot smuggle in a ``javascript:`` URL.
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
