"""{% url_for_rows %} / |with_pk give each row the URL {% url %} would, with one reversal per list."""

import pytest
from django.template import engines
from django.urls import reverse

TEMPLATE = engines["django"].from_string(
    "{% url_for_rows name as row_url %}{% for pk in pks %}{{ row_url|with_pk:pk }} {% endfor %}")


@pytest.mark.parametrize("name", ["finance:payment-detail", "invoices:detail", "portal:invoice-pay",
                                  "portal:invoice-pdf", "customers:transactions"])
def test_each_row_gets_the_url_reverse_gives(name):
    pks = [1, 42, 9_876_543_210, 10**12]
    assert TEMPLATE.render({"name": name, "pks": pks}).split() == [reverse(name, args=[pk]) for pk in pks]


def test_a_primary_key_that_is_not_a_number_is_refused():
    with pytest.raises(ValueError):
        TEMPLATE.render({"name": "invoices:detail", "pks": ["1/../../admin"]})
