"""`esc(value)`: a value put in HTML by Python, escaped exactly as a template's `{{ value }}` escapes plain text.

Django's `escape` is `html.escape(str(value))` behind a lazy-string wrapper (`keep_lazy`) that costs more than
the escaping itself for the short texts of a table cell; the row-building template tags (a list's 25 or 100
rows, bench issue 9) call this instead. Not for values that may already be safe HTML (use conditional_escape).
"""

from html import escape as _escape


def esc(value) -> str:
    return _escape(str(value))
