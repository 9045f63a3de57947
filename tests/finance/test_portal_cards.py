"""The services and reads behind the portal's Cards and auto top-up page: the projection of the daily
top-ups, turning card auto top-up off and on, changing the amounts (on/off kept), removing the saved card
(auto top-up off, detached at Stripe), the card's expiry kept from Stripe."""

from __future__ import annotations

import time
from decimal import Decimal

import pytest

from audit.models import AuditEvent
from customers.models import Customer
from finance.auto_top_up.selectors import auto_top_up_projection
from finance.models import PaymentSettings, TopUpMethod
from finance.services.auto_top_up import (
    PaymentSettingsError,
    payment_settings_switch_from_portal,
    payment_settings_update,
    payment_settings_update_from_portal,
)
from finance.services.saved_card import SavedCardError, saved_card_remove
from tests.finance.factories import SYSTEM, customer
from tests.stripe.helpers import CUSTOMER, save_card
from tests.threads import run_threads

D = Decimal


def projection(usable: str, trigger: str = "30", threshold: str = "20"):
    return auto_top_up_projection(usable_credits=D(usable), trigger_amount=D(trigger), limit_threshold=D(threshold),
                                  currency="SGD")


class TestAutoTopUpProjection:
    def test_below_the_threshold_by_more_than_one_top_up_says_another_follows(self):
        p = projection("-16.12")
        assert p.top_ups_needed == 2
        assert p.after_next == D("13.88")
        assert p.sentence() == ("Your usable credits are -16.12 SGD: the next daily top-up of 30.00 SGD brings them "
                                "to 13.88 SGD, still under 20.00 SGD, so another follows the day after.")

    def test_one_top_up_enough_says_so(self):
        p = projection("5")
        assert p.top_ups_needed == 1
        assert p.sentence().endswith("brings them to 35.00 SGD, above 20.00 SGD.")

    def test_landing_exactly_on_the_threshold_needs_another_since_the_job_tops_up_at_or_below(self):
        p = projection("-10")
        assert p.top_ups_needed == 2
        assert "brings them to 20.00 SGD, still at 20.00 SGD, so another follows the day after" in p.sentence()

    def test_far_below_counts_the_days(self):
        p = projection("-100")
        assert p.top_ups_needed == 5 and p.after_all == D("50")
        assert "5 daily top-ups in all bring them to 50.00 SGD" in p.sentence()

    def test_above_the_threshold_promises_nothing_yet(self):
        p = projection("20.01")
        assert p.top_ups_needed == 0 and p.after_next == D("20.01")
        assert "happens on the day they fall to 20.00 SGD or below" in p.sentence()

    def test_a_trigger_of_zero_is_refused(self):
        with pytest.raises(ValueError):
            projection("5", trigger="0")


@pytest.mark.django_db
class TestCardExpiry:
    def test_saving_a_card_keeps_its_expiry_from_stripe(self, fake_stripe):
        cust = save_card(fake_stripe, customer())
        assert (cust.card_brand, cust.card_last4) == ("visa", "4242")
        assert cust.card_exp_month == 12 and cust.card_exp_year == time.gmtime().tm_year + 3


def events(cust, action):
    return AuditEvent.objects.filter(customer_id=cust.pk, action=action).count()


@pytest.mark.django_db
class TestSwitchFromPortal:
    def test_turns_card_auto_top_up_off_then_on_again_with_the_same_amounts(self, fake_stripe):
        cust = save_card(fake_stripe, customer())
        off = payment_settings_switch_from_portal(customer_id=cust.pk, enabled=False, actor=CUSTOMER)
        assert not off.auto_top_up_enabled and (off.trigger_amount, off.limit_threshold) == (D("50"), D("10"))
        on = payment_settings_switch_from_portal(customer_id=cust.pk, enabled=True, actor=CUSTOMER)
        assert on.auto_top_up_enabled and on.method == TopUpMethod.CARD and on.trigger_amount == D("50")
        assert events(cust, "finance.payment_settings.switch_from_portal") == 2

    def test_the_same_state_again_writes_nothing(self, fake_stripe):
        cust = save_card(fake_stripe, customer())
        payment_settings_switch_from_portal(customer_id=cust.pk, enabled=True, actor=CUSTOMER)
        assert events(cust, "finance.payment_settings.switch_from_portal") == 0

    def test_on_without_a_saved_card_is_refused(self, fake_stripe):
        cust = save_card(fake_stripe, customer())
        saved_card_remove(customer_id=cust.pk, actor=CUSTOMER)
        with pytest.raises(PaymentSettingsError, match="no saved card"):
            payment_settings_switch_from_portal(customer_id=cust.pk, enabled=True, actor=CUSTOMER)
        assert not PaymentSettings.objects.get(customer=cust).auto_top_up_enabled

    def test_off_for_a_method_staff_chose_is_refused(self, fake_stripe):
        cust = customer()
        payment_settings_update(customer_id=cust.pk, method=TopUpMethod.CHEQUE_TT, trigger_amount=D("100"),
                                limit_threshold=D("50"), auto_top_up_enabled=True, actor=SYSTEM)
        with pytest.raises(PaymentSettingsError, match="finance team"):
            payment_settings_switch_from_portal(customer_id=cust.pk, enabled=False, actor=CUSTOMER)
        assert PaymentSettings.objects.get(customer=cust).auto_top_up_enabled


@pytest.mark.django_db
class TestAmountsFromPortal:
    def test_new_amounts_keep_auto_top_up_off_when_it_is_off(self, fake_stripe):
        cust = save_card(fake_stripe, customer())
        payment_settings_switch_from_portal(customer_id=cust.pk, enabled=False, actor=CUSTOMER)
        ps = payment_settings_update_from_portal(customer_id=cust.pk, trigger_amount=D("40"),
                                                 limit_threshold=D("15"), auto_top_up_enabled=None, actor=CUSTOMER)
        assert (ps.trigger_amount, ps.limit_threshold, ps.auto_top_up_enabled) == (D("40"), D("15"), False)

    def test_new_amounts_keep_it_on_when_on(self, fake_stripe):
        cust = save_card(fake_stripe, customer())
        ps = payment_settings_update_from_portal(customer_id=cust.pk, trigger_amount=D("40"),
                                                 limit_threshold=D("15"), auto_top_up_enabled=None, actor=CUSTOMER)
        assert ps.auto_top_up_enabled and ps.trigger_amount == D("40")


@pytest.mark.django_db
class TestSavedCardRemove:
    def test_forgets_the_card_turns_card_auto_top_up_off_and_detaches_it_at_stripe(
            self, fake_stripe, django_capture_on_commit_callbacks):
        cust = save_card(fake_stripe, customer())
        method_id = cust.stripe_payment_method_id
        assert fake_stripe.get(method_id)["customer"] == cust.stripe_customer_id
        with django_capture_on_commit_callbacks(execute=True):
            removal = saved_card_remove(customer_id=cust.pk, actor=CUSTOMER)
        assert removal.auto_top_up_turned_off and removal.card.startswith("Visa ending 4242, expires 12/")
        cust.refresh_from_db()
        assert (cust.stripe_payment_method_id, cust.card_brand, cust.card_last4, cust.card_exp_month) == ("", "", "", None)
        assert cust.stripe_customer_id  # kept for the next Checkout
        ps = PaymentSettings.objects.get(customer=cust)
        assert not ps.auto_top_up_enabled and ps.trigger_amount == D("50")  # amounts kept for a card saved later
        assert fake_stripe.get(method_id)["customer"] is None
        (event,) = AuditEvent.objects.filter(customer_id=cust.pk, action="finance.saved_card.remove")
        assert event.before["auto_top_up_enabled"] is True and event.after["auto_top_up_enabled"] is False

    def test_without_a_card_is_refused_and_changes_nothing(self, fake_stripe):
        cust = customer()
        with pytest.raises(SavedCardError, match="no saved card"):
            saved_card_remove(customer_id=cust.pk, actor=CUSTOMER)
        assert not AuditEvent.objects.filter(action="finance.saved_card.remove").exists()

    def test_leaves_a_method_staff_chose_on(self, fake_stripe):
        cust = save_card(fake_stripe, customer())
        payment_settings_update(customer_id=cust.pk, method=TopUpMethod.MASTER_ACCOUNT, trigger_amount=D("100"),
                                limit_threshold=D("50"), auto_top_up_enabled=True, actor=SYSTEM)
        removal = saved_card_remove(customer_id=cust.pk, actor=CUSTOMER)
        assert not removal.auto_top_up_turned_off
        assert PaymentSettings.objects.get(customer=cust).auto_top_up_enabled

    def test_a_card_stripe_detached_already_is_fine(self, fake_stripe):
        from finance.cards import gateway

        cust = save_card(fake_stripe, customer())
        gateway.payment_method_detach(cust.stripe_payment_method_id)
        gateway.payment_method_detach(cust.stripe_payment_method_id)  # again: no error
        gateway.payment_method_detach("pm_unknown")
        assert fake_stripe.get(cust.stripe_payment_method_id)["customer"] is None


@pytest.mark.django_db(transaction=True)
class TestConcurrency:
    def test_removing_the_card_while_turning_auto_top_up_on_never_leaves_it_on_without_a_card(self, fake_stripe):
        for _ in range(3):
            cust = save_card(fake_stripe, customer())
            payment_settings_switch_from_portal(customer_id=cust.pk, enabled=False, actor=CUSTOMER)

            def work(n, cust=cust):
                try:
                    if n == 0:
                        saved_card_remove(customer_id=cust.pk, actor=CUSTOMER)
                    else:
                        payment_settings_switch_from_portal(customer_id=cust.pk, enabled=True, actor=CUSTOMER)
                except PaymentSettingsError:
                    pass  # went second: the card was gone

            assert run_threads(2, work) == []
            assert not PaymentSettings.objects.get(customer=cust).auto_top_up_enabled
            assert Customer.objects.get(pk=cust.pk).stripe_payment_method_id == ""

    def test_removing_the_card_while_the_amounts_change_never_leaves_auto_top_up_on_without_a_card(
            self, fake_stripe):
        """Both lock the customer: whichever goes second sees the other's result (amounts after the removal
        are refused, a removal after the amounts turns them off), so the end state is always consistent."""
        for _ in range(3):
            cust = save_card(fake_stripe, customer())
            outcomes: dict[int, object] = {}

            def work(n, cust=cust, outcomes=outcomes):
                try:
                    if n == 0:
                        outcomes[n] = saved_card_remove(customer_id=cust.pk, actor=CUSTOMER)
                    else:
                        outcomes[n] = payment_settings_update_from_portal(
                            customer_id=cust.pk, trigger_amount=D("60"), limit_threshold=D("25"),
                            auto_top_up_enabled=None, actor=CUSTOMER)
                except PaymentSettingsError as exc:
                    outcomes[n] = exc

            assert run_threads(2, work) == []
            cust = Customer.objects.get(pk=cust.pk)
            ps = PaymentSettings.objects.get(customer=cust)
            assert cust.stripe_payment_method_id == "" and not ps.auto_top_up_enabled
            changed = not isinstance(outcomes[1], PaymentSettingsError)
            assert events(cust, "finance.payment_settings.update_from_portal") == 1 + changed  # 1: saving the card
            assert events(cust, "finance.saved_card.remove") == 1
