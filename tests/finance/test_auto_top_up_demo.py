"""The payment settings demo: settings through the service, one run of the job, idempotent, ledger clean."""

import io

import pytest
import time_machine

from customers import demo as customers_demo
from customers.selectors import ledger_mismatches
from finance.auto_top_up import demo as demo_settings
from finance.models import AutoTopUp, AutoTopUpRun, PaymentSettings
from tests.finance.auto_top_up_support import AT

pytestmark = pytest.mark.django_db


@time_machine.travel(AT, tick=False)
def test_seeds_settings_and_todays_run_once():
    customers_demo.seed(stdout=io.StringIO())
    out = io.StringIO()
    assert demo_settings.seed(stdout=out) == "8 payment settings, 1 auto top-up run"
    (run,) = AutoTopUpRun.objects.all()
    assert (run.customers_count, run.fired_count, run.failed_count, run.skipped_count) == (6, 4, 0, 2)
    assert set(AutoTopUp.objects.values_list("method", flat=True)) == {"cheque_tt", "master_account"}
    assert "4 topped up" in out.getvalue()

    assert demo_settings.seed(stdout=io.StringIO()) == "0 payment settings, 0 auto top-up run"
    assert PaymentSettings.objects.count() == 8 and AutoTopUpRun.objects.count() == 1
    assert ledger_mismatches() == []


def test_without_the_customers_demo_it_makes_nothing():
    assert demo_settings.seed(stdout=io.StringIO()) == "0 payment settings, 0 auto top-up run"
