"""Forms of the portal's Cards and auto top-up page and its Payments page: they validate input only; the
services decide (the trigger's minimum, the saved card)."""

from __future__ import annotations

from django import forms

from customers.money import AmountField, max_top_up

from .forms import card_amounts


class AutoTopUpAmountsForm(forms.Form):
    trigger_amount = AmountField(label="Each automatic top-up adds",
                                 help_text="How much one automatic top-up charges to your card.")
    limit_threshold = AmountField(label="When usable credits fall to",
                                  help_text="The daily check tops up when your usable credits are at or below this.")

    def __init__(self, *args, currency: str = "", **kwargs):
        super().__init__(*args, **kwargs)
        card_amounts(self, ("trigger_amount",), currency)  # the card is charged it: the currency's minor unit
        self.fields["limit_threshold"].maximum = max_top_up()
