"""Text put in HTML by the row-building template tags, as the templates they replace gave it.

`esc(value)`: escaped exactly as a template's `{{ value }}` escapes plain text.

Django's `escape` is `html.escape(str(value))` behind a lazy-string wrapper (`keep_lazy`) that costs more than
the escaping itself for the short texts of a table cell; the row-building template tags (a list's 25 or 100
rows, bench issue 9) call this instead. Not for values that may already be safe HTML (use conditional_escape).

`truncated(text, length)`: `{{ text|truncatechars:length }}`.
"""

from html import escape as _escape

from django.utils.text import Truncator


def esc(value) -> str:
    return _escape(str(value))


def truncated(text: str, length: int) -> str:
    """truncatechars without building a Truncator for a text that fits: Truncator counts characters without
    their combining marks, so a text of `length` code points or fewer is whole."""
    return text if len(text) <= length else Truncator(text).chars(length)
