"""The daily auto top-up, one method at a time, end to end through `manage.py auto_top_up --date` and the
services: who is topped up, with what, and every reason a customer is skipped or a top-up fails.

Time is frozen at 06:00 in the operator's timezone on the run date (when beat fires the job)."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from io import StringIO

import pytest
import time_machine
from django.core import mail
from django.core.management import CommandError, call_command

from audit.models import AuditEvent
from customers.models import Notification, NotificationKind, TransactionKind
from customers.selectors import ledger_mismatches
from finance.models import (
    AutoTopUp,
    AutoTopUpDecision,
    AutoTopUpRun,
    AutoTopUpStatus,
    AutoTopUpTrigger,
    CardPaymentStatus,
    TopUpDecision,
    TopUpMethod,
)
from finance.services.auto_top_up import auto_top_up_customer, run_daily_auto_top_up
from invoices.models import Invoice, InvoiceStatus, InvoiceType
from invoices.services.lifecycle import invoice_void
from tests import stripe_fixtures
from tests.customers.factories import top_up
from tests.finance.auto_top_up_support import (
    AT,
    RUN_DATE,
    SYSTEM,
    at_six,
    card_customer,
    credited,
    customer_with,
    failure_notices,
    rows,
    transfers,
    wallet,
)

pytestmark = pytest.mark.django_db
fake_stripe_server, fake_stripe = stripe_fixtures.fake_stripe_server, stripe_fixtures.fake_stripe
NEXT_DAY = RUN_DATE + dt.timedelta(days=1)


@pytest.fixture(autouse=True)
def frozen():
    with time_machine.travel(AT, tick=False) as traveller:
        yield traveller


def run(day: dt.date = RUN_DATE) -> AutoTopUpRun:
    """The job as an operator runs it, with emails sent from this process."""
    out = StringIO()
    call_command("auto_top_up", "--date", day.isoformat(), "--email-now", stdout=out)
    assert f"Auto top-up {day.isoformat()}" in out.getvalue()
    return AutoTopUpRun.objects.order_by("-id").first()


def decision_of(run_: AutoTopUpRun, cust) -> AutoTopUpDecision:
    return AutoTopUpDecision.objects.get(run=run_, customer=cust)


def actions_since(event_id: int, customer_id: int) -> list[str]:
    return list(AuditEvent.objects.filter(id__gt=event_id, customer_id=customer_id).order_by("id")
                .values_list("action", flat=True))


def last_event_id() -> int:
    return AuditEvent.objects.order_by("-id").values_list("id", flat=True).first() or 0


class TestMasterAccount:
    def test_credit_moves_from_the_master_wallet_when_usable_credits_are_at_or_below_the_threshold(
            self, django_capture_on_commit_callbacks):
        master = wallet("1000")
        below = customer_with(TopUpMethod.MASTER_ACCOUNT, credits="20", trigger="100", threshold="50")
        at_threshold = customer_with(TopUpMethod.MASTER_ACCOUNT, credits="50", trigger="75.123456", threshold="50")
        start = last_event_id()

        with django_capture_on_commit_callbacks(execute=True):
            the_run = run()

        for cust, amount in ((below, Decimal("100")), (at_threshold, Decimal("75.123456"))):
            cust.refresh_from_db()
            (row,) = rows(cust)
            assert (row.status, row.method, row.amount, row.run_date) == (AutoTopUpStatus.FIRED,
                                                                           TopUpMethod.MASTER_ACCOUNT, amount, RUN_DATE)
            assert row.transfer_entry.amount == -amount and row.transfer_entry.wallet_id == master.pk
            assert transfers(cust) == amount
            assert decision_of(the_run, cust).decision == TopUpDecision.FIRED
            notice = Notification.objects.get(customer=cust, kind=NotificationKind.TOP_UP)
            assert notice.status == "sent" and notice.source_id == row.pk
        assert below.usable_credits == Decimal("120")
        assert at_threshold.usable_credits == Decimal("125.123456")
        master.refresh_from_db()
        assert master.balance == Decimal("1000") - Decimal("175.123456")
        assert len(mail.outbox) == 2 and "topped up" in mail.outbox[0].subject
        assert actions_since(start, below.pk) == [
            "customers.master_wallet.transfer", "customers.notification.record", "finance.auto_top_up.fire",
            "finance.auto_top_up.notice"]
        assert (the_run.customers_count, the_run.fired_count, the_run.failed_count, the_run.skipped_count) == (2, 2, 0, 0)
        assert the_run.trigger == AutoTopUpTrigger.COMMAND and the_run.is_finished
        assert ledger_mismatches() == []

    def test_an_empty_master_wallet_fails_the_top_up_with_its_reason_and_tells_the_customer_once(
            self, django_capture_on_commit_callbacks):
        master = wallet("60")
        cust = customer_with(TopUpMethod.MASTER_ACCOUNT, credits="20", trigger="100", threshold="50")

        with django_capture_on_commit_callbacks(execute=True):
            first = run()
            second = run()

        (row,) = rows(cust)
        assert row.status == AutoTopUpStatus.FAILED and row.failure_code == "master_wallet_insufficient"
        assert "holds 60.00 SGD, less than the 100.00 SGD" in row.reason
        assert decision_of(first, cust).decision == TopUpDecision.FAILED
        assert decision_of(second, cust).decision == TopUpDecision.SKIPPED_ALREADY_TODAY
        assert decision_of(second, cust).auto_top_up_id == row.pk
        (notice,) = failure_notices(cust)
        assert "could not be made" in notice.body and "60.00" not in notice.body  # the operator's balance stays private
        assert [m.subject for m in mail.outbox] == ["Your automatic top-up of 100.00 SGD failed"]
        master.refresh_from_db()
        assert master.balance == Decimal("60") and transfers(cust) == 0
        assert AuditEvent.objects.filter(action="finance.auto_top_up.fail", customer_id=cust.pk).count() == 1

    def test_without_a_master_wallet_in_the_customers_currency_the_top_up_fails(self):
        wallet("1000", currency="SGD")
        cust = customer_with(TopUpMethod.MASTER_ACCOUNT, credits="0", currency="USD")
        run()
        (row,) = rows(cust)
        assert (row.status, row.failure_code) == (AutoTopUpStatus.FAILED, "no_master_wallet")
        assert row.reason == "There is no master wallet in USD."

    def test_the_next_day_tops_up_once_more(self):
        wallet("1000")
        cust = customer_with(TopUpMethod.MASTER_ACCOUNT, credits="20", trigger="10", threshold="50")
        run()
        with time_machine.travel(at_six(NEXT_DAY), tick=False):
            run(NEXT_DAY)
            run(NEXT_DAY)
        assert [(r.run_date, r.status) for r in rows(cust)] == [(RUN_DATE, "fired"), (NEXT_DAY, "fired")]
        assert transfers(cust) == Decimal("20")


class TestChequeOrTelegraphicTransfer:
    def test_a_top_up_invoice_for_the_trigger_amount_is_issued_and_sent(self, django_capture_on_commit_callbacks):
        cust = customer_with(TopUpMethod.CHEQUE_TT, credits="20", trigger="250", threshold="50")

        with django_capture_on_commit_callbacks(execute=True):
            the_run = run()

        (row,) = rows(cust)
        invoice = row.invoice
        assert row.status == AutoTopUpStatus.FIRED
        assert (invoice.type, invoice.status, invoice.total, invoice.source_key) == (
            InvoiceType.TOP_UP, InvoiceStatus.SENT, Decimal("250"), f"auto-top-up:{cust.pk}:2026-03-16")
        assert Notification.objects.get(customer=cust, kind=NotificationKind.INVOICE).status == "sent"
        (email,) = mail.outbox
        assert invoice.number in email.subject and email.attachments
        cust.refresh_from_db()
        assert cust.usable_credits == Decimal("20")  # a top-up invoice asks for a deposit; it is not credit yet
        assert decision_of(the_run, cust).decision == TopUpDecision.FIRED

    def test_no_second_invoice_while_an_earlier_auto_top_up_invoice_is_awaiting_payment(self):
        cust = customer_with(TopUpMethod.CHEQUE_TT, credits="20", trigger="250", threshold="50")
        run()
        (first_invoice,) = Invoice.objects.filter(customer=cust)

        with time_machine.travel(at_six(NEXT_DAY), tick=False):
            next_run = run(NEXT_DAY)

        decision = decision_of(next_run, cust)
        assert decision.decision == TopUpDecision.SKIPPED_OPEN_INVOICE
        assert decision.reason == f"Top-up invoice {first_invoice.number} is still awaiting payment."
        assert Invoice.objects.filter(customer=cust).count() == 1
        assert [r.run_date for r in rows(cust)] == [RUN_DATE]

    def test_once_the_open_invoice_is_voided_the_next_day_issues_a_new_one(self):
        cust = customer_with(TopUpMethod.CHEQUE_TT, credits="20", trigger="250", threshold="50")
        run()
        (first_invoice,) = Invoice.objects.filter(customer=cust)
        invoice_void(invoice_id=first_invoice.pk, reason="Customer paid by card instead", actor=SYSTEM)

        with time_machine.travel(at_six(NEXT_DAY), tick=False):
            run(NEXT_DAY)

        assert Invoice.objects.filter(customer=cust, status=InvoiceStatus.SENT).count() == 1
        assert [(r.run_date, r.status) for r in rows(cust)] == [(RUN_DATE, "fired"), (NEXT_DAY, "fired")]

    def test_an_invoice_the_invoices_service_refuses_fails_the_top_up_with_its_reason(self, settings):
        cust = customer_with(TopUpMethod.CHEQUE_TT, credits="20", trigger="250", threshold="50")
        settings.LEDGERDESK_MIN_TOP_UP = Decimal("500")  # raised after the settings were made
        the_run = run()
        (row,) = rows(cust)
        assert (row.status, row.failure_code) == (AutoTopUpStatus.FAILED, "invoice_refused")
        assert "at least 500.00 SGD" in row.reason
        assert decision_of(the_run, cust).decision == TopUpDecision.FAILED
        assert not Invoice.objects.filter(customer=cust).exists()  # nothing of the refused invoice is left
        assert len(failure_notices(cust)) == 1


class TestCard:
    def test_the_saved_card_is_charged_off_session_and_the_credits_added(self, fake_stripe,
                                                                          django_capture_on_commit_callbacks):
        cust = card_customer(fake_stripe, credits="20", trigger="100", threshold="50")

        with django_capture_on_commit_callbacks(execute=True):
            the_run = run()

        (row,) = rows(cust)
        payment = row.card_payment
        assert row.status == AutoTopUpStatus.FIRED
        assert payment.status == CardPaymentStatus.SUCCEEDED and payment.amount_charged == Decimal("100")
        assert payment.idempotency_key == f"auto-top-up:{cust.pk}:2026-03-16"
        intents = [r for r in fake_stripe.requests if r.path == "/v1/payment_intents" and r.method == "POST"]
        assert [r.idempotency_key for r in intents] == [payment.idempotency_key]
        assert intents[0].params["off_session"] == "true"
        assert credited(cust, TransactionKind.TOP_UP) == Decimal("120")  # 20 to start with + 100 by card
        cust.refresh_from_db()
        assert cust.usable_credits == Decimal("120")
        assert Notification.objects.get(customer=cust, kind=NotificationKind.TOP_UP).status == "sent"
        assert decision_of(the_run, cust).decision == TopUpDecision.FIRED
        assert ledger_mismatches() == []

    @pytest.mark.parametrize(("card", "code", "words"), [
        ("4000000000000002", "generic_decline", "declined"),
        ("4000002760003184", "authentication_required", "requires authentication"),
    ])
    def test_a_declined_or_authentication_card_adds_no_credits_notifies_once_and_is_not_retried_that_day(
            self, fake_stripe, card, code, words, django_capture_on_commit_callbacks):
        cust = card_customer(fake_stripe, card=card, credits="20")

        with django_capture_on_commit_callbacks(execute=True):
            first = run()
            second = run()

        (row,) = rows(cust)
        assert row.status == AutoTopUpStatus.FAILED and row.failure_code == code
        assert words in row.reason and row.card_payment.status == CardPaymentStatus.FAILED
        assert credited(cust, TransactionKind.TOP_UP) == Decimal("20")
        assert len(failure_notices(cust)) == 1 and len(mail.outbox) == 1
        assert words in failure_notices(cust)[0].body
        assert decision_of(first, cust).decision == TopUpDecision.FAILED
        assert decision_of(second, cust).decision == TopUpDecision.SKIPPED_ALREADY_TODAY
        posts = [r for r in fake_stripe.requests if r.path == "/v1/payment_intents" and r.method == "POST"]
        assert len(posts) == 1  # no retry that day
        assert AuditEvent.objects.filter(action="finance.auto_top_up.fail", customer_id=cust.pk).count() == 1

    def test_a_card_removed_after_the_settings_were_made_fails_as_no_saved_card(self, fake_stripe):
        cust = card_customer(fake_stripe, credits="0")
        type(cust).objects.filter(pk=cust.pk).update(stripe_payment_method_id="")
        run()
        (row,) = rows(cust)
        assert (row.status, row.failure_code) == (AutoTopUpStatus.FAILED, "no_saved_card")
        assert len(failure_notices(cust)) == 1

    def test_stripe_unreachable_leaves_the_day_in_progress_and_the_next_run_resumes_it(self, fake_stripe, settings):
        cust = card_customer(fake_stripe, credits="0")
        settings.STRIPE_API_BASE = "http://127.0.0.1:9"  # nothing listens there
        first = run()
        (row,) = rows(cust)
        assert row.status == AutoTopUpStatus.PENDING
        assert decision_of(first, cust).decision == TopUpDecision.IN_PROGRESS
        assert failure_notices(cust) == []

        settings.STRIPE_API_BASE = fake_stripe.url
        second = run()
        row.refresh_from_db()
        assert row.status == AutoTopUpStatus.FIRED
        assert decision_of(second, cust).decision == TopUpDecision.FIRED
        assert credited(cust, TransactionKind.TOP_UP) == Decimal("100")
        assert len(fake_stripe.events_of_type("payment_intent.succeeded")) == 1


    def test_a_card_charge_left_in_progress_yesterday_is_recorded_from_its_card_payment_never_charged_again(
            self, fake_stripe, monkeypatch, settings):
        from finance.services import auto_top_up as service

        settings.LEDGERDESK_AUTO_TOP_UP_RETRY_BACKOFF = (0,)  # the chunk's retry resumes the charge: crashes again
        cust = card_customer(fake_stripe, credits="0", trigger="100", threshold="50")
        real_settle = service._card_settle

        def crash(*args, **kwargs):
            raise RuntimeError("worker lost between Stripe and our record")

        monkeypatch.setattr(service, "_card_settle", crash)
        first = run()
        (row,) = rows(cust)
        assert row.status == AutoTopUpStatus.PENDING and decision_of(first, cust).decision == TopUpDecision.FAILED
        assert "Unexpected error (RuntimeError) on each of 2 attempts" in decision_of(first, cust).reason
        assert credited(cust, TransactionKind.TOP_UP) == Decimal("100")  # Stripe charged, the card payment credited
        assert len(fake_stripe.events_of_type("payment_intent.succeeded")) == 1  # the retry resumed: same key
        monkeypatch.setattr(service, "_card_settle", real_settle)

        with time_machine.travel(at_six(NEXT_DAY), tick=False):
            next_run = run(NEXT_DAY)

        row.refresh_from_db()
        assert row.status == AutoTopUpStatus.FIRED and row.card_payment.status == CardPaymentStatus.SUCCEEDED
        assert decision_of(next_run, cust).decision == TopUpDecision.SKIPPED_ABOVE_THRESHOLD  # 100 > 50 now
        assert len(fake_stripe.events_of_type("payment_intent.succeeded")) == 1
        assert credited(cust, TransactionKind.TOP_UP) == Decimal("100")


class TestSkips:
    def test_above_the_threshold_is_skipped_and_logged_with_the_figures(self):
        wallet("1000")
        cust = customer_with(TopUpMethod.MASTER_ACCOUNT, credits="50.000001", trigger="100", threshold="50")
        the_run = run()
        decision = decision_of(the_run, cust)
        assert decision.decision == TopUpDecision.SKIPPED_ABOVE_THRESHOLD
        assert (decision.usable_credits, decision.limit_threshold, decision.trigger_amount) == (
            Decimal("50.000001"), Decimal("50"), Decimal("100"))
        assert rows(cust) == [] and transfers(cust) == 0
        assert (the_run.customers_count, the_run.skipped_count, the_run.fired_count) == (1, 1, 0)

    def test_customers_with_auto_top_up_off_are_not_candidates(self):
        wallet("1000")
        off = customer_with(TopUpMethod.MASTER_ACCOUNT, credits="0", enabled=False)
        the_run = run()
        assert the_run.customers_count == 0 and rows(off) == []

    def test_usable_credits_count_the_credit_limit_and_the_reserved_credits(self):
        """Usable = credit limit + expecting invoice + max(amount due, 0) - reserved (DESIGN.md)."""
        from customers.services import reservation_reserve
        wallet("1000")
        postpaid = customer_with(TopUpMethod.MASTER_ACCOUNT, credits="0", threshold="50",
                                 account_type="postpaid", credit_limit=Decimal("60"))
        reserved = customer_with(TopUpMethod.MASTER_ACCOUNT, credits="70", threshold="50")
        reservation_reserve(customer_id=reserved.pk, amount=Decimal("25"), actor=SYSTEM, at=AT)
        the_run = run()
        assert decision_of(the_run, postpaid).decision == TopUpDecision.SKIPPED_ABOVE_THRESHOLD
        assert decision_of(the_run, postpaid).usable_credits == Decimal("60")
        assert decision_of(the_run, reserved).decision == TopUpDecision.FIRED
        assert decision_of(the_run, reserved).usable_credits == Decimal("45")

    def test_a_second_run_the_same_day_skips_everyone_already_handled(self):
        wallet("1000")
        cust = customer_with(TopUpMethod.MASTER_ACCOUNT, credits="0")
        run()
        again = run()
        decision = decision_of(again, cust)
        assert decision.decision == TopUpDecision.SKIPPED_ALREADY_TODAY and decision.auto_top_up is not None
        assert (again.fired_count, again.skipped_count) == (0, 1)
        assert transfers(cust) == Decimal("100")

    def test_the_customer_is_checked_again_under_its_lock(self):
        """Between the job's candidate query and the customer's turn, credits can arrive or the settings
        change: the per-customer service decides on the locked row."""
        from finance.services.auto_top_up import payment_settings_update
        wallet("1000")
        topped = customer_with(TopUpMethod.MASTER_ACCOUNT, credits="0")
        turned_off = customer_with(TopUpMethod.MASTER_ACCOUNT, credits="0")
        top_up(topped, "500")
        payment_settings_update(customer_id=turned_off.pk, method=TopUpMethod.MASTER_ACCOUNT, trigger_amount="100",
                                limit_threshold="50", auto_top_up_enabled=False, actor=SYSTEM)

        first = auto_top_up_customer(customer_id=topped.pk, run_date=RUN_DATE, actor=SYSTEM)
        second = auto_top_up_customer(customer_id=turned_off.pk, run_date=RUN_DATE, actor=SYSTEM)

        assert first.decision == TopUpDecision.SKIPPED_ABOVE_THRESHOLD and first.usable_credits == Decimal("500")
        assert second.decision == TopUpDecision.SKIPPED_DISABLED
        assert AutoTopUp.objects.count() == 0


class TestCommand:
    def test_the_date_defaults_to_today_in_the_operators_timezone(self):
        # 06:00 in Singapore is still the day before in UTC.
        assert AT.astimezone(dt.UTC).date() == RUN_DATE - dt.timedelta(days=1)
        out = StringIO()
        call_command("auto_top_up", stdout=out)
        assert AutoTopUpRun.objects.get().run_date == RUN_DATE
        assert "Auto top-up 2026-03-16" in out.getvalue()

    def test_a_bad_date_is_refused_with_a_clear_message(self):
        with pytest.raises(CommandError, match="--date must be a date as YYYY-MM-DD"):
            call_command("auto_top_up", "--date", "16/03/2026")
        assert AutoTopUpRun.objects.count() == 0

    def test_the_run_is_audited_at_start_and_finish(self):
        wallet("1000")
        customer_with(TopUpMethod.MASTER_ACCOUNT, credits="0")
        the_run = run_daily_auto_top_up(run_date=RUN_DATE, actor=SYSTEM, trigger=AutoTopUpTrigger.STAFF,
                                        email_via_celery=False)
        events = AuditEvent.objects.filter(object_type="finance.autotopuprun", object_id=str(the_run.pk))
        assert sorted(events.values_list("action", flat=True)) == ["finance.auto_top_up.run_finish",
                                                                   "finance.auto_top_up.run_start"]
        finish = events.get(action="finance.auto_top_up.run_finish")
        assert finish.after["fired"] == 1 and finish.after["customers"] == 1


class TestAuditTrail:
    """Each change the job makes is audited once, in its own transaction, beside the events of the services
    it calls; a skip changes nothing and records nothing."""

    def _events(self, cust, call) -> list[str]:
        start = last_event_id()
        call()
        return actions_since(start, cust.pk)

    def _day(self, cust):
        return lambda: auto_top_up_customer(customer_id=cust.pk, run_date=RUN_DATE, actor=SYSTEM,
                                            email_via_celery=False)

    def test_master_account(self):
        wallet("1000")
        fired = customer_with(TopUpMethod.MASTER_ACCOUNT, credits="0")
        assert self._events(fired, self._day(fired)) == [
            "customers.master_wallet.transfer", "customers.notification.record", "finance.auto_top_up.fire"]
        no_wallet = customer_with(TopUpMethod.MASTER_ACCOUNT, credits="0", currency="EUR")
        assert self._events(no_wallet, self._day(no_wallet)) == [
            "customers.notification.record", "finance.auto_top_up.fail"]

    def test_cheque_or_telegraphic_transfer(self):
        cust = customer_with(TopUpMethod.CHEQUE_TT, credits="0")
        assert self._events(cust, self._day(cust)) == [
            "invoices.invoice.create", "invoices.invoice.send", "finance.auto_top_up.fire"]

    def test_card(self, fake_stripe):
        paid = card_customer(fake_stripe, credits="0")
        assert self._events(paid, self._day(paid)) == [
            "finance.auto_top_up.claim", "finance.card_payment.fulfil",
            "customers.notification.record", "finance.auto_top_up.fire"]
        declined = card_customer(fake_stripe, card="4000000000000002", credits="0")
        assert self._events(declined, self._day(declined)) == [
            "finance.auto_top_up.claim", "finance.card_payment.fail",
            "customers.notification.record", "finance.auto_top_up.fail"]

    def test_skips_record_nothing(self):
        wallet("1000")
        rich = customer_with(TopUpMethod.MASTER_ACCOUNT, credits="500")
        assert self._events(rich, self._day(rich)) == []
        done = customer_with(TopUpMethod.MASTER_ACCOUNT, credits="0")
        self._day(done)()
        assert self._events(done, self._day(done)) == []

    def test_the_fire_event_says_what_was_done(self):
        wallet("1000")
        cust = customer_with(TopUpMethod.MASTER_ACCOUNT, credits="20", trigger="100")
        self._day(cust)()
        event = AuditEvent.objects.get(action="finance.auto_top_up.fire", customer_id=cust.pk)
        row = AutoTopUp.objects.get(customer=cust)
        assert (event.object_type, event.object_id, event.actor_label) == ("finance.autotopup", str(row.pk), "tests")
        assert event.before == {"status": "pending"}
        assert event.after["status"] == "fired" and event.after["amount"] == "100.000000"
        assert event.after["usable_credits_before"] == "20.000000"
        assert event.after["usable_credits_after"] == "120.000000"
        assert event.after["transfer_entry"] == row.transfer_entry_id


class TestThePortalFlow:
    def test_a_card_saved_during_an_online_top_up_is_charged_by_the_next_days_job(self, fake_stripe):
        """The customer tops up online with 'save card' and their auto top-up choices (the portal's card
        services apply them through payment_settings_update_from_portal); the job then charges that card."""
        from tests.customers.factories import CustomerFactory
        from tests.stripe.helpers import save_card as save_card_in_portal

        cust = save_card_in_portal(fake_stripe, CustomerFactory())  # tops up 20, trigger 50, threshold 10
        settings = cust.payment_settings
        assert (settings.method, settings.trigger_amount, settings.limit_threshold, settings.auto_top_up_enabled) == (
            TopUpMethod.CARD, Decimal("50"), Decimal("10"), True)
        from customers.services import charge_post
        charge_post(customer_id=cust.pk, kind=TransactionKind.CALL, amount=Decimal("15"), actor=SYSTEM, at=AT)

        run()

        (row,) = rows(cust)
        assert row.status == AutoTopUpStatus.FIRED and row.usable_credits_before == Decimal("5")
        assert row.card_payment.payment_method_id == cust.stripe_payment_method_id
        cust.refresh_from_db()
        assert cust.usable_credits == Decimal("55")


class TestNoticeText:
    """The notices word for word (templates finance/email/auto_top_up_*.txt): the customer's and the
    seller's names reach the plain-text email as typed, never HTML-escaped."""

    @pytest.fixture(autouse=True)
    def seller(self, settings):
        settings.LEDGERDESK_SELLER = {**settings.LEDGERDESK_SELLER, "name": "Tel & Co"}

    def test_a_master_wallet_top_up(self, django_capture_on_commit_callbacks):
        wallet("10000")
        customer_with(TopUpMethod.MASTER_ACCOUNT, credits="20", trigger="1234.5", threshold="50",
                      name="Lee & Sons <Pte>")
        with django_capture_on_commit_callbacks(execute=True):
            run()
        (message,) = mail.outbox
        assert message.subject == "Your account was topped up with 1,234.50 SGD"
        assert message.body == (
            "Dear Lee & Sons <Pte>,\n\nYour usable credits fell to 20.00 SGD, so 1,234.50 SGD of credit was "
            "added to your account automatically.\n\nTel & Co")

    def test_a_failed_top_up(self, django_capture_on_commit_callbacks):
        wallet("60")
        cust = customer_with(TopUpMethod.MASTER_ACCOUNT, credits="20.123456", trigger="100", threshold="50",
                             name="Lee & Sons <Pte>")
        with django_capture_on_commit_callbacks(execute=True):
            run()
        (message,) = mail.outbox
        (row,) = rows(cust)
        assert message.subject == "Your automatic top-up of 100.00 SGD failed"
        assert message.body == (
            "Dear Lee & Sons <Pte>,\n\nYour automatic top-up of 100.00 SGD on 16 Mar 2026 could not be made: "
            "Automatic top-ups from our account are unavailable today.\n\nYour usable credits are 20.123456 SGD. "
            "Please top up online or contact us; the automatic top-up is tried again tomorrow.\n\nTel & Co")
        assert row.failure_code == "master_wallet_insufficient"

    def test_a_card_top_up(self, fake_stripe, django_capture_on_commit_callbacks):
        card_customer(fake_stripe, credits="20", trigger="100", threshold="50", name="Lee & Sons <Pte>")
        with django_capture_on_commit_callbacks(execute=True):
            run()
        notice = [m for m in mail.outbox if "topped up" in m.subject]
        (message,) = notice
        assert message.subject == "Your account was topped up with 100.00 SGD"
        assert message.body == (
            "Dear Lee & Sons <Pte>,\n\nYour usable credits fell to 20.00 SGD, so Visa ending 4242 was charged "
            "100.00 SGD and the credits were added to your account.\n\nTel & Co")
