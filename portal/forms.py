"""Portal forms: they validate input only; the services decide."""

from __future__ import annotations

from decimal import Decimal

from django import forms
from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.forms import PasswordResetForm

from common.sign_in import BoundedAuthenticationForm
from customers.money import AmountField, display, max_top_up
from finance.cards.gateway import chargeable, exponent


class PortalSignInForm(BoundedAuthenticationForm):
    """Only users who belong to a customer may sign in here; staff are told to use the back office."""

    def confirm_login_allowed(self, user):
        super().confirm_login_allowed(user)
        if user.is_staff:
            raise forms.ValidationError(
                "This sign-in is for customers. Staff sign in at the back office.", code="staff")
        if not hasattr(user, "customer_membership"):
            raise forms.ValidationError(
                "This account does not belong to a customer. Ask your account manager for portal access.",
                code="no_customer")


class PortalPasswordResetForm(PasswordResetForm):
    """Django's reset form, limited to portal users: a staff address gets no portal reset link (and the
    page says the same thing either way, so it reveals nothing about which addresses exist)."""

    def get_users(self, email):
        model = get_user_model()
        email_field = model.get_email_field_name()
        users = model._default_manager.filter(
            **{f"{email_field}__iexact": email}, is_active=True, is_staff=False,
            customer_membership__isnull=False)
        return (u for u in users if u.has_usable_password())


def card_amounts(form: forms.Form, names: tuple[str, ...], currency: str) -> None:
    """Amounts a card is charged: no more decimals than the currency's minor unit (2 for SGD and USD), at
    most LEDGERDESK_MAX_TOP_UP."""
    for name in names:
        form.fields[name].places = exponent(currency or settings.LEDGERDESK_DEFAULT_CURRENCY)
        form.fields[name].maximum = max_top_up()


class TopUpForm(forms.Form):
    """An online top-up by card. Saving the card lets the daily job top up automatically: the trigger
    amount is the size of each automatic top-up, the limit threshold is the level of usable credits at
    which it happens (the payment settings of the card method)."""

    amount = AmountField(label="Amount")
    save_card = forms.BooleanField(required=False, label="Save this card for automatic top-ups")
    trigger_amount = AmountField(label="Auto top-up amount", required=False,
                                 help_text="How much each automatic top-up adds.")
    limit_threshold = AmountField(label="When usable credits fall to", required=False,
                                  help_text="The daily check tops up when usable credits are at or below this.")

    def __init__(self, *args, minimum: Decimal | None = None, currency: str = "", **kwargs):
        super().__init__(*args, **kwargs)
        self.minimum = settings.LEDGERDESK_MIN_TOP_UP if minimum is None else minimum
        self.currency = currency
        self.fields["amount"].help_text = f"At least {display(self.minimum)} {currency}".strip() + "."
        card_amounts(self, ("amount", "trigger_amount"), currency)
        self.fields["limit_threshold"].maximum = max_top_up()

    def clean_amount(self):
        amount = self.cleaned_data["amount"]
        if amount is not None and amount < self.minimum:
            raise forms.ValidationError(f"The minimum top-up is {display(self.minimum)} {self.currency}".strip() + ".")
        return amount

    def clean(self):
        data = super().clean()
        if data.get("save_card"):
            trigger = data.get("trigger_amount")
            if trigger is None and "trigger_amount" not in self.errors:
                self.add_error("trigger_amount", "Say how much each automatic top-up adds.")
            elif trigger is not None and trigger < self.minimum:
                self.add_error("trigger_amount",
                               f"An automatic top-up must be at least {display(self.minimum)} {self.currency}".strip() + ".")
            if data.get("limit_threshold") is None and "limit_threshold" not in self.errors:
                self.add_error("limit_threshold", "Say at which level of usable credits to top up.")
        else:
            data["trigger_amount"] = None
            data["limit_threshold"] = None
        return data


class CardShortfallForm(forms.Form):
    """Top up by card to pay an invoice whose outstanding amount the credits do not cover."""

    amount = AmountField(label="Amount to top up")

    def __init__(self, *args, shortfall: Decimal, currency: str = "", **kwargs):
        super().__init__(*args, **kwargs)
        self.shortfall = shortfall
        self.currency = currency
        self.fields["amount"].help_text = f"At least the shortfall, {display(shortfall)} {currency}".strip() + "."
        card_amounts(self, ("amount",), currency)
        if shortfall > 0:  # what a card can charge: the shortfall rounded up to the minor unit (35.004 -> 35.01)
            charge = chargeable(shortfall, currency or settings.LEDGERDESK_DEFAULT_CURRENCY)
            self.fields["amount"].maximum = max(max_top_up(), charge)
            if not self.is_bound:
                self.initial["amount"] = charge

    def clean_amount(self):
        amount = self.cleaned_data["amount"]
        if amount is not None and amount < self.shortfall:
            raise forms.ValidationError(
                f"Top up at least the shortfall of {display(self.shortfall)} {self.currency}".strip() + ".")
        return amount


