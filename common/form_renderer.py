"""The project's form renderer (settings.FORM_RENDERER): Django's, with its commonest widget templates written
out in Python.

Django renders a widget through its template: `<input>` includes `attrs.html`, a `<select>` includes
`select_option.html` and `attrs.html` again for every option. A list page's filter form (a search box, two
selects of statuses and methods, two dates) cost 1.1 ms that way, an eighth of the page (bench issue 9). Here
`input.html` and the widgets that only include it (text, search, number, email, date, ...), `select.html`
with its options and `textarea.html` are built by the functions below, which give the same HTML, byte for byte:
the same escaping (`{{ }}` in an autoescaped template: localized, then conditionally escaped), the same
`stringformat:'s'` on values, the same whitespace. `tests/common/test_form_renderer.py` renders every form
of the project, and widgets with every kind of value and attribute, both ways and compares them.

Any other template (radios, checkboxes, files, the admin's widgets, a form's layout) goes to Django as
before, and so does one of these when a template directory overrides it: the fast path is taken only for a
template that the renderer's engine finds in Django's own `django/forms/templates`.
"""

from __future__ import annotations

import html
from pathlib import Path

import django.forms
from django.forms.renderers import DjangoTemplates
from django.template import TemplateDoesNotExist
from django.utils.formats import localize
from django.utils.functional import cached_property
from django.utils.html import conditional_escape
from django.utils.safestring import SafeData
from django.utils.timezone import template_localtime

_DJANGO_FORM_TEMPLATES = Path(django.forms.__file__).parent / "templates"
_W = "django/forms/widgets/"


def _text(value) -> str:
    """`{{ value }}` in an autoescaped template (django.template.base.render_value_in_context)."""
    if type(value) is str:
        return html.escape(value)
    value = localize(template_localtime(value))
    if not issubclass(type(value), str):
        value = str(value)
    return conditional_escape(value)


def _formatted(value) -> str:
    """`{{ value|stringformat:'s' }}`: a safe value stays as it is (the filter is is_safe), others escaped."""
    if isinstance(value, tuple):
        value = str(value)
    try:
        out = "%s" % value  # noqa: UP031 - exactly what stringformat:"s" does (a dict or a tuple as %s shows it)
    except (ValueError, TypeError):
        out = ""
    return out if isinstance(value, SafeData) else html.escape(out)


def _attrs(attrs: dict) -> str:
    """attrs.html: ` name="value"` each, ` name` alone for True, nothing for False."""
    out = []
    for name, value in attrs.items():
        if value is not False:
            out.append(f" {_text(name)}" if value is True else f' {_text(name)}="{_formatted(value)}"')
    return "".join(out)


def _input(widget: dict) -> str:
    value = widget["value"]
    shown = f' value="{_formatted(value)}"' if value != None else ""  # noqa: E711 (the template's `!= None`)
    return f'<input type="{_text(widget["type"])}" name="{_text(widget["name"])}"{shown}{_attrs(widget["attrs"])}>'


def _option(widget: dict) -> str:
    return (f'<option value="{_formatted(widget["value"])}"{_attrs(widget["attrs"])}>{_text(widget["label"])}'
            "</option>\n")  # select_option.html ends with a newline, kept inside the <select>


def _textarea(widget: dict) -> str:
    value = widget["value"]
    return (f'<textarea name="{_text(widget["name"])}"{_attrs(widget["attrs"])}>\n'
            f'{_text(value) if value else ""}</textarea>')


# Widget templates that only include input.html (each ends with a newline, which the renderer strips).
_INPUTS = ("input", "text", "search", "number", "email", "url", "tel", "password", "hidden", "date", "datetime",
           "time", "color", "checkbox")


class FormRenderer(DjangoTemplates):
    """DjangoTemplates with `_input`, `_select` and `_textarea` standing in for Django's own templates."""

    @cached_property
    def _fast(self) -> dict:
        def own(name: str) -> bool:
            return self._is_djangos_own(_W + name)

        if not own("attrs.html"):
            return {}
        fast = {}
        if own("input.html"):
            fast.update({f"{_W}{name}.html": _input for name in _INPUTS if own(f"{name}.html")})
        if own("select.html"):
            fast[_W + "select.html"] = self._select
        if own("textarea.html"):
            fast[_W + "textarea.html"] = _textarea
        self._option_fast = own("select_option.html")
        return fast

    def _is_djangos_own(self, template_name: str) -> bool:
        try:
            origin = Path(self.get_template(template_name).origin.name)
        except TemplateDoesNotExist:
            return False
        return origin.is_relative_to(_DJANGO_FORM_TEMPLATES)

    def render(self, template_name, context, request=None):
        build = self._fast.get(template_name)
        if build is None or request is not None or set(context) != {"widget"}:
            return super().render(template_name, context, request=request)
        return build(context["widget"])

    def _select(self, widget: dict) -> str:
        out = [f'<select name="{_text(widget["name"])}"{_attrs(widget["attrs"])}>']
        for group_name, group_choices, _index in widget["optgroups"]:
            if group_name:
                out.append(f'\n  <optgroup label="{_text(group_name)}">')
            for option in group_choices:
                out.append("\n  ")
                if self._option_fast and option["template_name"] == _W + "select_option.html":
                    out.append(_option(option))
                else:
                    out.append(self.get_template(option["template_name"]).render({"widget": option}))
            if group_name:
                out.append("\n  </optgroup>")
        out.append("\n</select>")
        return "".join(out)
