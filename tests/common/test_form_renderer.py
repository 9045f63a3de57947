"""The project's form renderer gives exactly the HTML of Django's templates, for every widget of every form
in the project and for widgets with every kind of value, label and attribute; it falls back to Django for
what it does not build and for a widget template that a template directory overrides."""

from __future__ import annotations

import datetime as dt
import importlib
import inspect
from decimal import Decimal

import pytest
from django import forms
from django.forms.renderers import DjangoTemplates, get_default_renderer
from django.utils.safestring import mark_safe
from django.utils.translation import gettext_lazy

from common.form_renderer import FormRenderer
from tests.finance.factories import customer

DJANGO = DjangoTemplates()
OURS = FormRenderer()
FORM_MODULES = ["audit.forms", "backoffice.forms", "customers.forms", "fakestripe.forms", "finance.forms",
                "invoices.forms", "portal.forms", "django.contrib.auth.forms"]
VALUES = [None, "", "0", "1", "SGD", "bank_transfer", "sent", "2026-01-02", 'a "quoted" <b>&amp;</b> \'x\'',
          mark_safe("<i>safe</i>"), 7, Decimal("1234.500000"), dt.date(2026, 12, 4), True, False, ["1", "SGD"]]


def both(widget: forms.Widget, value, attrs=None) -> tuple[str, str]:
    """The widget rendered by our renderer and by Django's (a value the widget refuses: the same error)."""
    try:
        djangos = widget.render("field", value, attrs, renderer=DJANGO)
    except (AttributeError, TypeError, ValueError) as exc:
        with pytest.raises(type(exc)):
            widget.render("field", value, attrs, renderer=OURS)
        return "refused", "refused"
    return widget.render("field", value, attrs, renderer=OURS), djangos


def test_the_project_renders_forms_with_it():
    assert isinstance(get_default_renderer(), FormRenderer)


def test_it_builds_the_commonest_widgets_itself():
    built = set(OURS._fast)
    assert {"django/forms/widgets/text.html", "django/forms/widgets/select.html", "django/forms/widgets/date.html",
            "django/forms/widgets/textarea.html", "django/forms/widgets/search.html"} <= built
    assert "django/forms/widgets/radio.html" not in built and "django/forms/div.html" not in built


def _project_widgets():
    for module_name in FORM_MODULES:
        module = importlib.import_module(module_name)
        for _, cls in inspect.getmembers(module, inspect.isclass):
            if issubclass(cls, forms.BaseForm) and cls.__module__ == module_name:
                for name, field in cls.base_fields.items():
                    yield f"{cls.__name__}.{name}", field


@pytest.mark.django_db
def test_every_widget_of_every_form_in_the_project_renders_the_same(settings):
    customer(name='Acme "<Best>" & Sons')
    customer(name="Zed Ltd", currency="USD")
    seen = 0
    for label, field in _project_widgets():
        widget = field.widget
        attrs = {"id": f"id_{label}", **({"required": True} if field.required else {})}
        for value in VALUES:
            if isinstance(value, list) and not getattr(widget, "allow_multiple_selected", False):
                continue
            ours, djangos = both(widget, value, attrs)
            assert ours == djangos, (label, value)
            seen += 1
    assert seen > 500  # every form module was found


@pytest.mark.parametrize("widget", [
    forms.TextInput(), forms.TextInput(attrs={"type": "search", "placeholder": 'Ref "#", <id>', "autofocus": True,
                                              "disabled": False, "data-n": 3, "data-safe": mark_safe("<ok>")}),
    forms.NumberInput(attrs={"step": Decimal("0.01"), "min": 0}), forms.EmailInput(), forms.URLInput(),
    forms.PasswordInput(render_value=True), forms.PasswordInput(), forms.HiddenInput(), forms.DateInput(),
    forms.DateInput(attrs={"type": "date"}), forms.DateTimeInput(), forms.TimeInput(), forms.CheckboxInput(),
    forms.Textarea(attrs={"rows": 3, "cols": None}), forms.Textarea(),
    forms.Select(choices=[("", "— All —"), ("a", "Alpha & <Co>"), (1, 2), (Decimal("1.5"), Decimal("1234.5")),
                          ("lazy", gettext_lazy("Lazy label")), ("safe", mark_safe("<b>safe</b>"))]),
    forms.Select(choices=[("Group <1>", [("a", "A"), ("b", "B")]), ("", [("c", "C")]), ("d", "D"),
                          (None, [("e", "E")])], attrs={"class": "wide", "multiple": False}),
    forms.SelectMultiple(choices=[("1", "One"), ("SGD", "SGD"), ("x", "X")]),
    forms.NullBooleanSelect(),
])
@pytest.mark.parametrize("value", VALUES)
def test_widgets_with_every_kind_of_value_attribute_and_label(widget, value):
    if isinstance(value, list) and not getattr(widget, "allow_multiple_selected", False):
        value = value[0]
    ours, djangos = both(widget, value, {"id": "id_field", "aria-label": 'say "hi"', "data-yes": True})
    assert ours == djangos


def test_what_it_does_not_build_goes_to_django():
    radios = forms.RadioSelect(choices=[("a", "A"), ("b", "B")])
    assert both(radios, "a")[0] == both(radios, "a")[1]

    class StarOption(forms.Select):
        option_template_name = "django/forms/widgets/input_option.html"  # another template per option

    star = StarOption(choices=[("a", "A <x>"), ("b", "B")])
    assert both(star, "b")[0] == both(star, "b")[1]

    class Extra(forms.TextInput):
        def get_context(self, name, value, attrs):
            return {**super().get_context(name, value, attrs), "extra": "x"}

    assert both(Extra(), "v")[0] == both(Extra(), "v")[1]


def test_a_widget_template_overridden_by_a_template_directory_is_rendered_from_it(tmp_path):
    override = tmp_path / "django" / "forms" / "widgets"
    override.mkdir(parents=True)
    (override / "select.html").write_text('<select name="{{ widget.name }}" class="ours"></select>')

    class Overridden(FormRenderer):
        @property
        def engine(self):
            engine = getattr(self, "_engine", None)
            if engine is None:
                engine = self._engine = self.backend({"APP_DIRS": True, "DIRS": [tmp_path, *DJANGO.engine.dirs],
                                                      "NAME": "overridden", "OPTIONS": {}})
            return engine

    renderer = Overridden()
    assert "django/forms/widgets/select.html" not in renderer._fast
    assert "django/forms/widgets/text.html" in renderer._fast
    html = forms.Select(choices=[("a", "A")]).render("f", "a", renderer=renderer)
    assert html == '<select name="f" class="ours"></select>'
