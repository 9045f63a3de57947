"""Payment settings (Finance > Organization management): the rules of the service, the database behind
them, and the pages (list with search, filters, pagination, CSV; the clock icon's form)."""

from __future__ import annotations

import csv
import datetime as dt
import io
import re
from decimal import Decimal

import pytest
from django.db import IntegrityError, transaction
from django.urls import reverse

from audit.models import AuditEvent
from finance.models import AutoTopUp, PaymentSettings, TopUpMethod
from finance.services.auto_top_up import (
    PaymentSettingsError,
    payment_settings_update,
    payment_settings_update_from_portal,
)
from tests import stripe_fixtures
from tests.customers.factories import CustomerFactory, top_up
from tests.finance.auto_top_up_support import AT, RUN_DATE, STAFF, SYSTEM, card_customer, save_card

pytestmark = pytest.mark.django_db
fake_stripe_server, fake_stripe = stripe_fixtures.fake_stripe_server, stripe_fixtures.fake_stripe


def events(customer, action: str) -> list[AuditEvent]:
    return list(AuditEvent.objects.filter(customer_id=customer.pk, action=action).order_by("id"))


def update(customer, **kwargs) -> PaymentSettings:
    values = {"method": TopUpMethod.CHEQUE_TT, "trigger_amount": "100", "limit_threshold": "50",
              "auto_top_up_enabled": True, **kwargs}
    return payment_settings_update(customer_id=customer.pk, actor=STAFF, **values)


class TestPaymentSettingsUpdate:
    def test_staff_set_the_method_amounts_and_auto_top_up_with_one_audit_event(self):
        cust = CustomerFactory()
        ps = update(cust, method=TopUpMethod.MASTER_ACCOUNT, trigger_amount="250.123456", limit_threshold="40")
        assert (ps.method, ps.trigger_amount, ps.limit_threshold, ps.auto_top_up_enabled) == (
            TopUpMethod.MASTER_ACCOUNT, Decimal("250.123456"), Decimal("40"), True)
        assert ps.updated_by == "finance"
        (event,) = events(cust, "finance.payment_settings.update")
        assert event.before == {}
        assert event.after == {"method": "master_account", "trigger_amount": "250.123456",
                               "limit_threshold": "40.000000", "auto_top_up_enabled": True}

        update(cust, method=TopUpMethod.MASTER_ACCOUNT, trigger_amount="250.123456", limit_threshold="40",
               auto_top_up_enabled=False)
        second = events(cust, "finance.payment_settings.update")[-1]
        assert second.before["auto_top_up_enabled"] is True and second.after["auto_top_up_enabled"] is False

    def test_saving_the_same_settings_again_changes_nothing_and_records_nothing(self):
        cust = CustomerFactory()
        update(cust)
        update(cust, trigger_amount=Decimal("100.000000"))
        assert len(events(cust, "finance.payment_settings.update")) == 1

    @pytest.mark.parametrize(("field", "raw", "message"), [
        ("trigger_amount", "0", "Trigger amount must be more than zero."),
        ("trigger_amount", "-10", "Trigger amount must be more than zero."),
        ("limit_threshold", "0", "Limit threshold must be more than zero."),
        ("limit_threshold", "-0.5", "Limit threshold must be more than zero."),
        ("trigger_amount", "100.1234567", "Trigger amount can have at most 6 decimal places."),
        ("limit_threshold", "1e-7", "Limit threshold cannot be written with an exponent"),
        ("limit_threshold", "0.0000001", "Limit threshold can have at most 6 decimal places."),
        ("trigger_amount", "1000000.01", "Trigger amount can be at most 1,000,000.00."),
        ("trigger_amount", "ten", "Trigger amount must be a number, such as 125.50."),
        ("trigger_amount", 100.5, "Trigger amount must be given as a decimal string, not a floating-point number."),
        ("trigger_amount", "9.99", "The trigger amount must be at least 10.00 SGD (the minimum top-up)."),
        ("trigger_amount", "", "Trigger amount is required to turn auto top-up on."),
        ("limit_threshold", None, "Limit threshold is required to turn auto top-up on."),
        ("method", "paypal", "Choose a payment method"),
    ])
    def test_bad_input_is_refused_with_a_clear_message_and_changes_nothing(self, field, raw, message):
        cust = CustomerFactory()
        update(cust, method=TopUpMethod.MASTER_ACCOUNT, trigger_amount="200", limit_threshold="20")
        with pytest.raises(PaymentSettingsError) as refused:
            update(cust, **{field: raw})
        assert message in str(refused.value)
        ps = PaymentSettings.objects.get(customer=cust)
        assert (ps.method, ps.trigger_amount, ps.limit_threshold) == ("master_account", Decimal("200"), Decimal("20"))
        assert len(events(cust, "finance.payment_settings.update")) == 1

    def test_with_auto_top_up_off_the_amounts_may_be_left_empty(self):
        cust = CustomerFactory()
        ps = update(cust, trigger_amount="", limit_threshold=None, auto_top_up_enabled=False)
        assert (ps.trigger_amount, ps.limit_threshold, ps.auto_top_up_enabled) == (None, None, False)

    def test_an_unknown_customer_is_refused(self):
        with pytest.raises(PaymentSettingsError, match="There is no customer #999999"):
            payment_settings_update(customer_id=999999, method=TopUpMethod.CHEQUE_TT, trigger_amount="100",
                                    limit_threshold="50", auto_top_up_enabled=True, actor=STAFF)


class TestTheCardMethod:
    def test_needs_a_saved_card(self):
        cust = CustomerFactory()
        with pytest.raises(PaymentSettingsError, match="has no saved card"):
            update(cust, method=TopUpMethod.CARD, trigger_amount=None, limit_threshold=None,
                   auto_top_up_enabled=False)
        assert not PaymentSettings.objects.filter(customer=cust).exists()

    def test_the_amounts_are_the_customers_and_read_only_for_staff(self, fake_stripe):
        cust = card_customer(fake_stripe, trigger="80", threshold="25")
        # Staff may turn it off and on, keeping the customer's amounts.
        ps = update(cust, method=TopUpMethod.CARD, trigger_amount=None, limit_threshold=None,
                    auto_top_up_enabled=False)
        assert (ps.trigger_amount, ps.limit_threshold, ps.auto_top_up_enabled) == (Decimal("80"), Decimal("25"), False)
        ps = update(cust, method=TopUpMethod.CARD, trigger_amount="80", limit_threshold="25")
        assert ps.auto_top_up_enabled
        with pytest.raises(PaymentSettingsError, match="set by the customer during an online top-up"):
            update(cust, method=TopUpMethod.CARD, trigger_amount="500", limit_threshold=None)
        ps.refresh_from_db()
        assert ps.trigger_amount == Decimal("80")

    def test_switching_back_to_card_takes_the_customers_own_choice_from_the_portal(self, fake_stripe):
        from tests.stripe.helpers import save_card as save_card_in_portal

        cust = save_card_in_portal(fake_stripe, CustomerFactory())  # chose trigger 50, threshold 10
        update(cust, method=TopUpMethod.CHEQUE_TT, trigger_amount="500", limit_threshold="100")
        ps = update(cust, method=TopUpMethod.CARD, trigger_amount=None, limit_threshold=None)
        assert (ps.method, ps.trigger_amount, ps.limit_threshold) == (TopUpMethod.CARD, Decimal("50"), Decimal("10"))

    def test_cannot_be_turned_on_before_the_customer_chose_the_amounts(self, fake_stripe):
        cust = save_card(fake_stripe, CustomerFactory())
        with pytest.raises(PaymentSettingsError, match="has not chosen a trigger amount and limit threshold yet"):
            update(cust, method=TopUpMethod.CARD, trigger_amount=None, limit_threshold=None)
        ps = update(cust, method=TopUpMethod.CARD, trigger_amount=None, limit_threshold=None,
                    auto_top_up_enabled=False)
        assert ps.method == TopUpMethod.CARD and not ps.auto_top_up_enabled

    def test_the_portal_sets_the_card_method_with_the_customers_amounts(self, fake_stripe):
        cust = save_card(fake_stripe, CustomerFactory())
        update(cust, method=TopUpMethod.CHEQUE_TT, auto_top_up_enabled=False)
        ps = payment_settings_update_from_portal(customer_id=cust.pk, trigger_amount=Decimal("150"),
                                                 limit_threshold=Decimal("30"), actor=SYSTEM)
        assert (ps.method, ps.trigger_amount, ps.limit_threshold, ps.auto_top_up_enabled) == (
            TopUpMethod.CARD, Decimal("150"), Decimal("30"), True)
        (event,) = events(cust, "finance.payment_settings.update_from_portal")
        assert event.before["method"] == "cheque_tt" and event.after["method"] == "card"

    @pytest.mark.parametrize(("trigger", "threshold", "message"), [
        ("5", "30", "at least 10.00 SGD"),
        ("100", "0", "Limit threshold must be more than zero."),
        ("100", "1.0000001", "at most 6 decimal places"),
    ])
    def test_the_portal_is_held_to_the_same_amounts(self, fake_stripe, trigger, threshold, message):
        cust = save_card(fake_stripe, CustomerFactory())
        with pytest.raises(PaymentSettingsError, match=message):
            payment_settings_update_from_portal(customer_id=cust.pk, trigger_amount=trigger,
                                                limit_threshold=threshold, actor=SYSTEM)
        assert not PaymentSettings.objects.filter(customer=cust).exists()

    def test_the_portal_needs_a_saved_card_too(self):
        cust = CustomerFactory()
        with pytest.raises(PaymentSettingsError, match="no saved card"):
            payment_settings_update_from_portal(customer_id=cust.pk, trigger_amount="100", limit_threshold="30",
                                                actor=SYSTEM)


class TestTheDatabaseHoldsTheRules:
    """Whatever code writes the rows, PostgreSQL refuses what the rules forbid."""

    def _insert(self, **fields):
        with pytest.raises(IntegrityError), transaction.atomic():
            PaymentSettings.objects.create(updated_at=AT, **fields)

    def test_amounts_must_be_more_than_zero_and_auto_top_up_needs_both(self):
        cust = CustomerFactory()
        self._insert(customer=cust, trigger_amount=Decimal("0"), limit_threshold=Decimal("1"))
        self._insert(customer=cust, trigger_amount=Decimal("1"), limit_threshold=Decimal("-1"))
        self._insert(customer=cust, trigger_amount=Decimal("100"), auto_top_up_enabled=True)

    def test_one_auto_top_up_per_customer_per_day(self):
        cust = CustomerFactory()
        values = {"customer": cust, "run_date": RUN_DATE, "status": "failed", "method": "master_account",
                  "amount": Decimal("10"), "currency": "SGD", "reason": "x", "created_at": AT, "completed_at": AT}
        AutoTopUp.objects.create(**values)
        with pytest.raises(IntegrityError), transaction.atomic():
            AutoTopUp.objects.create(**values)

    def test_a_fired_top_up_points_at_what_it_did_and_a_failure_says_why(self):
        cust = CustomerFactory()
        base = {"customer": cust, "run_date": RUN_DATE, "method": "cheque_tt", "amount": Decimal("10"),
                "currency": "SGD", "created_at": AT, "completed_at": AT}
        for bad in ({"status": "fired"}, {"status": "failed", "reason": ""}, {"status": "pending"}):
            with pytest.raises(IntegrityError), transaction.atomic():
                AutoTopUp.objects.create(**{**base, **bad})


# --- Pages --------------------------------------------------------------------------------------------------
LIST = reverse("finance:settings-list")
DISABLED_TRIGGER = re.compile(r'<input[^>]*name="trigger_amount"[^>]*\sdisabled[\s>]')


def edit_url(customer) -> str:
    return reverse("finance:settings-edit", args=[customer.pk])


class TestOrganizationManagementList:
    def test_lists_every_organization_with_its_settings_and_a_clock_icon(self, finance_client):
        set_up = CustomerFactory(name="Acme Telecom")
        update(set_up, method=TopUpMethod.MASTER_ACCOUNT, trigger_amount="300", limit_threshold="75")
        CustomerFactory(name="Bare Networks")
        response = finance_client.get(LIST)
        assert response.status_code == 200
        html = response.content.decode()
        assert "Acme Telecom" in html and "Issue from master account" in html and "300.00 SGD" in html
        assert "Bare Networks" in html and "(not set)" in html
        assert edit_url(set_up) in html and "img/clock.svg" in html

    def test_search_and_filters(self, finance_client):
        on = CustomerFactory(name="Acme Telecom", code="ACME")
        update(on, method=TopUpMethod.MASTER_ACCOUNT)
        off = CustomerFactory(name="Globex", code="GLOBEX", currency="USD")
        update(off, auto_top_up_enabled=False)
        due = CustomerFactory(name="Initech", code="INIT")
        top_up(due, "10")
        update(due, limit_threshold="50")

        def names(**params):
            return [c.name for c in finance_client.get(LIST, params).context["page"]]

        assert names(q="acme") == ["Acme Telecom"]
        assert names(q="glob") == ["Globex"]
        assert names(method="master_account") == ["Acme Telecom"]
        assert names(auto="on") == ["Acme Telecom", "Initech"]
        assert names(auto="off") == ["Globex"]
        assert names(auto="due") == ["Acme Telecom", "Initech"]  # Acme has 0 usable credits, threshold 50
        assert names(currency="USD") == ["Globex"]

    def test_the_csv_export_has_the_filtered_rows(self, finance_client):
        cust = CustomerFactory(name="=Evil Corp", code="EVIL")
        update(cust, method=TopUpMethod.MASTER_ACCOUNT, trigger_amount="300.5", limit_threshold="75")
        CustomerFactory(name="Other")
        response = finance_client.get(LIST, {"q": "evil", "format": "csv"})
        rows = list(csv.reader(io.StringIO(b"".join(response.streaming_content).decode())))
        assert rows[0][:4] == ["customer_code", "customer", "currency", "payment_method"]
        assert rows[1][:8] == ["EVIL", "'=Evil Corp", "SGD", "master_account", "300.500000", "75.000000", "on",
                               "0.000000"]
        assert len(rows) == 2

    def test_the_number_of_queries_does_not_grow_with_the_rows(self, finance_client, django_assert_max_num_queries):
        for i in range(30):
            cust = CustomerFactory()
            if i % 2:
                update(cust, method=TopUpMethod.MASTER_ACCOUNT)
        finance_client.get(LIST)  # warm the session and permission caches
        with django_assert_max_num_queries(8):
            response = finance_client.get(LIST)
        assert len(response.context["page"]) == 25

    def test_each_row_shows_its_latest_auto_top_up_on_every_page_and_in_the_csv(self, finance_client,
                                                                                 django_assert_max_num_queries):
        """The latest auto top-up is read for the page's rows only (one query): the last page costs what the first
        does (issue 20: as subqueries in the select list they ran for every row an OFFSET skipped)."""
        customers = [CustomerFactory(name=f"Org {i:02}", code=f"ORG{i:02}") for i in range(30)]
        earlier = RUN_DATE - dt.timedelta(days=3)
        for cust in (customers[1], customers[27]):
            for day, status in ((earlier, "failed"), (RUN_DATE, "failed")):
                AutoTopUp.objects.create(customer=cust, run_date=day, status=status, method="master_account",
                                         amount=Decimal("10"), currency="SGD", reason=f"on {day}", created_at=AT,
                                         completed_at=AT)
        finance_client.get(LIST)  # warm the session and permission caches
        with django_assert_max_num_queries(8):
            first = finance_client.get(LIST).context["page"]
        with django_assert_max_num_queries(8) as queries:
            last = finance_client.get(LIST, {"page": "99"}).context["page"]
        assert not [q for q in queries.captured_queries if "finance_autotopup" in q["sql"] and "OFFSET" in q["sql"]]
        assert last.number == 2 and [c.name for c in last] == [f"Org {i:02}" for i in range(25, 30)]
        shown = {c.name: (c.last_auto_top_up_date, c.last_auto_top_up_status) for c in [*first, *last]}
        assert shown["Org 01"] == shown["Org 27"] == (RUN_DATE, "failed")
        assert shown["Org 00"] == shown["Org 26"] == (None, None)
        response = finance_client.get(LIST, {"q": "ORG27", "format": "csv"})
        rows = list(csv.reader(io.StringIO(b"".join(response.streaming_content).decode())))
        assert rows[1][-2:] == [RUN_DATE.isoformat(), "failed"] and len(rows) == 2

    def test_a_viewer_sees_the_list_but_cannot_change_settings(self, viewer_client):
        cust = CustomerFactory()
        assert viewer_client.get(LIST).status_code == 200
        page = viewer_client.get(edit_url(cust))
        assert page.status_code == 200 and b"Save changes" not in page.content
        response = viewer_client.post(edit_url(cust), {"method": "cheque_tt", "trigger_amount": "100",
                                                       "limit_threshold": "50", "auto_top_up_enabled": "on"})
        assert response.status_code == 403
        assert not PaymentSettings.objects.filter(customer=cust).exists()

    def test_anonymous_visitors_are_sent_to_sign_in(self, client):
        response = client.get(LIST)
        assert response.status_code == 302 and "/login/" in response["Location"]


class TestPaymentSettingsForm:
    def test_saves_and_returns_to_the_form_with_a_message(self, finance_client):
        cust = CustomerFactory()
        response = finance_client.post(edit_url(cust), {"method": "master_account", "trigger_amount": "120.50",
                                                         "limit_threshold": "30", "auto_top_up_enabled": "on"},
                                       follow=True)
        assert response.redirect_chain == [(edit_url(cust), 302)]
        assert "Payment settings of" in response.content.decode() and "saved" in response.content.decode()
        ps = PaymentSettings.objects.get(customer=cust)
        assert (ps.method, ps.trigger_amount, ps.limit_threshold, ps.auto_top_up_enabled) == (
            "master_account", Decimal("120.50"), Decimal("30"), True)
        assert events(cust, "finance.payment_settings.update")[0].actor_label == "finance"

    @pytest.mark.parametrize(("data", "message"), [
        ({"trigger_amount": "0", "limit_threshold": "30"}, "Trigger amount must be more than zero."),
        ({"trigger_amount": "100", "limit_threshold": "0.0000001"}, "Limit threshold can have at most 6 decimal places."),
        ({"trigger_amount": "", "limit_threshold": "30"}, "Trigger amount is required to turn auto top-up on."),
        ({"trigger_amount": "5", "limit_threshold": "30"}, "at least 10.00 SGD"),
    ])
    def test_a_refusal_is_shown_on_the_page_and_changes_nothing(self, finance_client, data, message):
        cust = CustomerFactory()
        response = finance_client.post(edit_url(cust), {"method": "cheque_tt", "auto_top_up_enabled": "on", **data},
                                       HTTP_HX_REQUEST="true", HTTP_HX_TARGET="settings-form")
        assert response.status_code == 200
        html = response.content.decode()
        assert message in html and html.lstrip().startswith('<form id="settings-form"')
        assert not PaymentSettings.objects.filter(customer=cust).exists()

    def test_a_card_method_without_a_saved_card_is_refused(self, finance_client):
        cust = CustomerFactory()
        response = finance_client.post(edit_url(cust), {"method": "card", "auto_top_up_enabled": "on"})
        assert response.status_code == 200 and b"has no saved card" in response.content
        assert not PaymentSettings.objects.filter(customer=cust).exists()

    def test_with_the_card_method_the_amounts_are_shown_read_only_and_a_posted_change_is_ignored(
            self, finance_client, fake_stripe):
        cust = card_customer(fake_stripe, trigger="80", threshold="25")
        page = finance_client.get(edit_url(cust)).content.decode()
        assert DISABLED_TRIGGER.search(page) and 'value="80.00"' in page and "80.000000" not in page  # issue 23: money, not NUMERIC(20,6)
        assert "Set by the customer during an online top-up in the portal" in page
        response = finance_client.post(edit_url(cust), {"method": "card", "trigger_amount": "999",
                                                         "limit_threshold": "1"})
        assert response.status_code == 302
        ps = PaymentSettings.objects.get(customer=cust)
        assert (ps.trigger_amount, ps.limit_threshold, ps.auto_top_up_enabled) == (Decimal("80"), Decimal("25"), False)

    def test_choosing_the_card_method_refreshes_the_form_with_read_only_amounts(self, finance_client, fake_stripe):
        cust = card_customer(fake_stripe, trigger="80", threshold="25")
        update(cust, method=TopUpMethod.CHEQUE_TT, trigger_amount="500", limit_threshold="100")
        response = finance_client.get(edit_url(cust), {"method": "card", "trigger_amount": "500",
                                                       "limit_threshold": "100"},
                                      HTTP_HX_REQUEST="true", HTTP_HX_TARGET="settings-form")
        html = response.content.decode()
        assert html.lstrip().startswith('<form id="settings-form"')
        assert DISABLED_TRIGGER.search(html) and "Set by the customer during an online top-up" in html
        back = finance_client.get(edit_url(cust), {"method": "cheque_tt", "trigger_amount": "500",
                                                   "limit_threshold": "100"},
                                  HTTP_HX_REQUEST="true", HTTP_HX_TARGET="settings-form").content.decode()
        assert not DISABLED_TRIGGER.search(back) and 'value="500"' in back

    def test_the_page_shows_the_account_and_its_recent_auto_top_ups(self, finance_client):
        from finance.services.auto_top_up import auto_top_up_customer
        from tests.finance.auto_top_up_support import customer_with, wallet

        wallet("1000")
        cust = customer_with(TopUpMethod.MASTER_ACCOUNT, credits="5")
        auto_top_up_customer(customer_id=cust.pk, run_date=RUN_DATE, actor=SYSTEM, email_via_celery=False)
        html = finance_client.get(edit_url(cust)).content.decode()
        assert "Recent auto top-ups" in html and "2026-03-16" in html and "Transferred from the master account" in html

    def test_an_unknown_customer_is_a_404(self, finance_client):
        assert finance_client.get(reverse("finance:settings-edit", args=[999999])).status_code == 404


class TestAdmin:
    @pytest.fixture
    def admin_client(self, client):
        from tests.factories import UserFactory

        admin = UserFactory(username="root", is_staff=True, is_superuser=True)
        client.force_login(admin, backend="django.contrib.auth.backends.ModelBackend")
        return client

    def test_every_model_is_browsable_and_read_only(self, admin_client):
        from tests.finance.auto_top_up_support import customer_with, wallet

        wallet("1000")
        cust = customer_with(TopUpMethod.MASTER_ACCOUNT, credits="0")
        from finance.services.auto_top_up import run_daily_auto_top_up
        run_daily_auto_top_up(run_date=RUN_DATE, actor=SYSTEM, email_via_celery=False)
        for model in ("paymentsettings", "autotopup", "autotopuprun", "autotopupdecision"):
            listing = admin_client.get(reverse(f"admin:finance_{model}_changelist"))
            assert listing.status_code == 200, model
            assert admin_client.get(reverse(f"admin:finance_{model}_add")).status_code == 403, model
        row = AutoTopUp.objects.get(customer=cust)
        page = admin_client.get(reverse("admin:finance_autotopup_change", args=[row.pk])).content.decode()
        assert 'name="amount"' not in page  # money is read only

    def test_the_admin_action_turns_auto_top_up_off_through_the_service(self, admin_client):
        cust = CustomerFactory()
        ps = update(cust)
        response = admin_client.post(reverse("admin:finance_paymentsettings_changelist"),
                                     {"action": "turn_auto_top_up_off", "_selected_action": [ps.pk]}, follow=True)
        assert response.status_code == 200
        ps.refresh_from_db()
        assert not ps.auto_top_up_enabled
        assert events(cust, "finance.payment_settings.update")[-1].after["auto_top_up_enabled"] is False
