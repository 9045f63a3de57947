"""{% nav_url %} gives what {% url ... as var %} gives, reversed once per URLconf and script prefix."""

import pytest
from django.template import engines
from django.test import override_settings
from django.urls import clear_script_prefix, reverse, set_script_prefix

TEMPLATE = engines["django"].from_string("{% load nav_urls %}{% nav_url name as u %}[{{ u }}]")


@pytest.mark.parametrize("name", ["dashboard", "customers:list", "finance:payment-list", "invoices:list",
                                  "audit:list", "logout", "admin:index"])
def test_gives_the_url_reverse_gives(name):
    assert TEMPLATE.render({"name": name}) == f"[{reverse(name)}]"
    assert TEMPLATE.render({"name": name}) == f"[{reverse(name)}]"  # the second time from its cache


def test_a_name_that_does_not_reverse_gives_nothing_as_url_does():
    assert TEMPLATE.render({"name": "nowhere:at-all"}) == "[]"
    assert engines["django"].from_string("{% url 'nowhere:at-all' as u %}[{{ u }}]").render({}) == "[]"


def test_follows_the_script_prefix_and_a_changed_urlconf():
    plain = TEMPLATE.render({"name": "customers:list"})
    set_script_prefix("/ledger/")
    try:
        assert TEMPLATE.render({"name": "customers:list"}) == f"[/ledger{plain[1:-1]}]"
    finally:
        clear_script_prefix()
    with override_settings(ROOT_URLCONF="bench.urls"):
        assert TEMPLATE.render({"name": "bench-one-query"}) == "[/bench/one-query/]"
    assert TEMPLATE.render({"name": "bench-one-query"}) == "[]"
