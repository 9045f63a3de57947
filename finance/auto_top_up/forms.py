"""Forms for Organization management (payment settings) and the Auto top-up runs page. They check the
shape of the input; the rules (amounts, the card method, the minimum top-up) live in
finance.services.auto_top_up, whose refusals the views add as form errors."""

from __future__ import annotations

from django import forms

from customers.money import AmountField

from ..models import PaymentSettings, TopUpMethod

CARD_LOCKED_HELP = "Set by the customer during an online top-up in the portal; it cannot be changed here."


class PaymentSettingsForm(forms.Form):
    method = forms.ChoiceField(label="Payment method", choices=TopUpMethod.choices)
    trigger_amount = AmountField(label="Trigger amount", required=False,
                                 help_text="The amount of each automatic top-up.")
    limit_threshold = AmountField(label="Limit threshold", required=False,
                                  help_text="When usable credits fall to this amount or below, the daily job tops up.")
    auto_top_up_enabled = forms.BooleanField(label="Auto top-up on", required=False,
                                             help_text="At most one automatic top-up a day.")

    def __init__(self, *args, current: PaymentSettings | None, method: str | None = None, refresh_url: str = "",
                 card_amounts: tuple = (None, None), **kwargs):
        """`method` is the method chosen so far (the select's value on an htmx refresh, or the posted one):
        with the card method the amounts are the customer's (`card_amounts`, see selectors_settings.card_choices),
        shown read only. `refresh_url` re-renders the form when the method select changes (htmx)."""
        initial = kwargs.pop("initial", None) or {}
        if current is not None:
            initial = {"method": current.method, "trigger_amount": current.trigger_amount,
                       "limit_threshold": current.limit_threshold,
                       "auto_top_up_enabled": current.auto_top_up_enabled, **initial}
        super().__init__(*args, initial=initial, **kwargs)
        if refresh_url:
            self.fields["method"].widget.attrs.update({
                "hx-get": refresh_url, "hx-trigger": "change", "hx-target": "#settings-form",
                "hx-swap": "outerHTML", "hx-include": "closest form"})
        chosen = method or (self.data.get("method") if self.is_bound else None) or initial.get("method")
        self.chosen_method = chosen or TopUpMethod.CHEQUE_TT
        self.card_locked = chosen == TopUpMethod.CARD
        if self.card_locked:
            for name in ("trigger_amount", "limit_threshold"):
                field = self.fields[name]
                field.disabled = True  # Django then ignores a posted value and keeps the customer's
                field.help_text = CARD_LOCKED_HELP
            self.initial["trigger_amount"], self.initial["limit_threshold"] = card_amounts
