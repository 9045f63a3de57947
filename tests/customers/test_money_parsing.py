"""The one strict parser of typed amounts (customers.money.parse_amount / parse_decimal), the one form field
(AmountField, also MoneyField's form field in every ModelForm and Django admin) and the ISO 4217 check."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django import forms
from django.contrib import admin
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.test import RequestFactory
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from customers.currencies import ISO_4217, CurrencyError, CurrencyField, clean_currency, validate_currency
from customers.models import Customer, MasterWallet
from customers.money import LIMIT, AmountField, MoneyError, amount_pattern, parse_amount, parse_decimal

D = Decimal
EXPONENT = "Amount cannot be written with an exponent (such as 1e5); write the number in full."
COMMA = ("Amount has a comma in the wrong place: commas only separate thousands (1,234.50), and a point marks "
         "the decimals.")
NOT_A_NUMBER = "Amount must be a number, such as 125.50."
DIGITS = "Amount must be written with the digits 0-9."
POSITIVE = "Amount must be more than zero."

REFUSED = [
    # exponents
    ("1e5", EXPONENT), ("1E5", EXPONENT), ("1.5e-3", EXPONENT), ("2e+2", EXPONENT), ("1,000e2", EXPONENT),
    # misplaced thousands separators, and the European decimal comma
    ("10,00", COMMA), ("1,0,0", COMMA), ("1,23.4", COMMA), (",100", COMMA), ("100,", COMMA), ("1,2345", COMMA),
    ("0,100", COMMA), ("1,000,00", COMMA), ("1.234,50", COMMA), ("1,,000", COMMA), ("1,000.000,1", COMMA),
    # not finite
    ("NaN", NOT_A_NUMBER), ("nan", NOT_A_NUMBER), ("sNaN", NOT_A_NUMBER), ("Infinity", NOT_A_NUMBER),
    ("-Infinity", NOT_A_NUMBER), ("inf", NOT_A_NUMBER), (D("NaN"), NOT_A_NUMBER), (D("Infinity"), NOT_A_NUMBER),
    # more than six decimals (typed, even as trailing zeros)
    ("1.1234567", "Amount can have at most 6 decimal places."),
    ("1.0000000", "Amount can have at most 6 decimal places."),
    (D("0.0000001"), "Amount can have at most 6 decimal places."),
    # NUMERIC(20, 6) holds less than 10^14
    ("100000000000000", "Amount is too large."), ("100,000,000,000,000", "Amount is too large."),
    ("99999999999999.9999995", "Amount can have at most 6 decimal places."),
    ("1" * 39, "Amount is too large."), ("1" * 41, "Amount is too long to be an amount."),
    (D("1E+14"), "Amount is too large."),
    # digits other than ASCII 0-9
    ("١٢٣", DIGITS), ("١٠", DIGITS), ("１２", DIGITS), ("²", DIGITS), ("1²", DIGITS), ("½", DIGITS), ("۱۲", DIGITS),
    ("१२३", DIGITS), ("五", DIGITS),
    # garbage before, after or inside
    ("12abc", NOT_A_NUMBER), ("abc", NOT_A_NUMBER), ("$12", NOT_A_NUMBER), ("12 SGD", NOT_A_NUMBER),
    ("1 000", NOT_A_NUMBER), ("12.5.1", NOT_A_NUMBER), ("5.", NOT_A_NUMBER), (".", NOT_A_NUMBER),
    ("0x10", NOT_A_NUMBER), ("1_000", NOT_A_NUMBER), ("5\x00", NOT_A_NUMBER), ("--5", NOT_A_NUMBER),
    ("−5", NOT_A_NUMBER), ("１,000", DIGITS), ("True", NOT_A_NUMBER), (True, NOT_A_NUMBER),
    # signs where none is allowed, zero, empty
    ("-5", POSITIVE), ("-0.01", POSITIVE), ("+5", "Amount must be a number without a sign, such as 125.50."),
    (D("-5"), POSITIVE), ("0", POSITIVE), ("0.000000", POSITIVE), ("", "Amount is required."),
    ("   ", "Amount is required."), (None, "Amount is required."),
    # floats cannot hold money exactly
    (1.5, "Amount must be given as a decimal string, not a floating-point number."),
]

ACCEPTED = [
    ("1", D("1")), ("125.50", D("125.5")), (" 125.50 ", D("125.5")), ("0.000001", D("0.000001")), (".5", D("0.5")),
    ("1,234.50", D("1234.5")), ("12,345,678.000001", D("12345678.000001")), ("1,000", D("1000")),
    ("999", D("999")), ("0001.5", D("1.5")), ("1234567", D("1234567")),
    ("99,999,999,999,999.999999", D("99999999999999.999999")), ("99999999999999.999999", D("99999999999999.999999")),
    (D("1E+5"), D("100000")), (D("12.5"), D("12.5")), (7, D("7")),
]


class TestParseAmount:
    @pytest.mark.parametrize(("raw", "message"), REFUSED)
    def test_refuses_with_a_message_that_says_what_is_wrong(self, raw, message):
        with pytest.raises(MoneyError) as refused:
            parse_amount(raw)
        assert str(refused.value) == message

    @pytest.mark.parametrize(("raw", "value"), ACCEPTED)
    def test_accepts_the_exact_amount_at_six_places(self, raw, value):
        parsed = parse_amount(raw)
        assert parsed == value and parsed.as_tuple().exponent == -6

    def test_the_field_name_starts_the_message(self):
        with pytest.raises(MoneyError, match="^Trigger amount cannot be written with an exponent"):
            parse_amount("1e5", field="Trigger amount")

    @pytest.mark.parametrize(("raw", "value"), [("-5", D("-5")), ("+5", D("5")), ("-1,234.50", D("-1234.5")),
                                                ("0", D("0")), ("-0.000001", D("-0.000001"))])
    def test_a_sign_where_negatives_are_allowed(self, raw, value):
        assert parse_amount(raw, allow_zero=True, allow_negative=True) == value

    @pytest.mark.parametrize("raw", ["1e5", "10,00", "١٠", "-1e5", "-Infinity", "- 5"])
    def test_a_sign_does_not_open_the_door_to_other_shapes(self, raw):
        with pytest.raises(MoneyError):
            parse_amount(raw, allow_zero=True, allow_negative=True)

    def test_zero_where_zero_is_allowed(self):
        assert parse_amount("0", allow_zero=True) == D("0")

    def test_places_for_a_card_amount(self):
        assert parse_amount("12.34", places=2) == D("12.34")
        with pytest.raises(MoneyError, match="^Amount can have at most 2 decimal places.$"):
            parse_amount("12.345", places=2)
        with pytest.raises(MoneyError, match="^Amount must be a whole number.$"):
            parse_amount("12.5", places=0)

    def test_a_maximum(self):
        assert parse_amount("1,000,000.00", maximum=D("1000000")) == D("1000000")
        with pytest.raises(MoneyError, match=r"^Amount can be at most 1,000,000.00.$"):
            parse_amount("1000000.01", maximum=D("1000000"))
        with pytest.raises(MoneyError, match="at most 1,000,000.00"):
            parse_amount("-1000000.01", maximum=D("1000000"), allow_negative=True)

    def test_parse_decimal_keeps_the_typed_places_for_quantities_and_rates(self):
        assert parse_decimal("1.500", places=3).as_tuple().exponent == -3
        with pytest.raises(MoneyError, match="^Quantity can have at most 3 decimal places.$"):
            parse_decimal("1.0001", field="Quantity", places=3)
        with pytest.raises(MoneyError, match="exponent"):
            parse_decimal("9e0", field="Tax rate", places=4, allow_zero=True)


AMOUNTS = st.decimals(min_value=-(LIMIT - D("0.000001")), max_value=LIMIT - D("0.000001"), places=6,
                      allow_nan=False, allow_infinity=False)


class TestParseAmountProperties:
    @settings(max_examples=300, deadline=None)
    @given(value=AMOUNTS, grouped=st.booleans(), places=st.integers(min_value=0, max_value=6))
    def test_any_amount_in_range_written_with_or_without_grouping_parses_back_to_itself(self, value, grouped,
                                                                                        places):
        value = value.quantize(D(1).scaleb(-places))
        assume(abs(value) < LIMIT)  # rounding 99999999999999.9999 to no places reaches 10^14
        text = f"{value:,f}" if grouped else f"{value:f}"
        assert parse_amount(text, allow_zero=True, allow_negative=True) == value

    @settings(max_examples=200, deadline=None)
    @given(text=st.text(max_size=30))
    def test_any_text_is_either_refused_with_a_message_or_an_exact_amount(self, text):
        try:
            value = parse_amount(text, allow_zero=True, allow_negative=True)
        except MoneyError as exc:
            assert str(exc).startswith("Amount ")
        else:
            assert value.is_finite() and abs(value) < LIMIT
            assert text.strip().lstrip("+-").replace(",", "").replace(".", "").isascii()
            assert "e" not in text.lower()


class TestAmountField:
    def test_cleans_to_decimal_and_refuses_with_the_parsers_message(self):
        field = AmountField(label="Trigger amount")
        assert field.clean("1,250.50") == D("1250.5")
        for raw in ("1e5", "10,00", "١٠"):
            with pytest.raises(ValidationError) as refused:
                field.clean(raw)
            assert refused.value.messages[0].startswith("Trigger amount ")
        with pytest.raises(ValidationError, match="required"):
            field.clean("")
        assert AmountField(required=False).clean("  ") is None
        assert field.clean(D("1E+2")) == D("100")  # a disabled field's initial value, from the database

    def test_places_and_maximum_can_be_set_on_a_built_form(self):
        class Form(forms.Form):
            amount = AmountField()

        form = Form({"amount": "10.005"})
        form.fields["amount"].places = 2
        assert not form.is_valid() and form.errors["amount"] == ["Amount can have at most 2 decimal places."]
        assert Form({"amount": "10.005"}).is_valid()  # the class's field is untouched


class TestMoneyFieldFormField:
    """Django's own DecimalField form field takes '1e5' and non-ASCII digits; a MoneyField's is AmountField, in
    every ModelForm and in Django admin."""

    @pytest.mark.parametrize("raw", ["1e5", "10,00", "١٠", "NaN"])
    def test_a_model_form_refuses_what_the_parser_refuses(self, raw):
        form_class = forms.modelform_factory(Customer, fields=["credit_limit"])
        form = form_class({"credit_limit": raw})
        assert not form.is_valid()
        assert form.errors["credit_limit"][0].startswith("Credit limit ")

    @pytest.mark.django_db
    def test_a_model_form_takes_a_grouped_amount(self):
        form = forms.modelform_factory(Customer, fields=["credit_limit"])({"credit_limit": "1,500.25"})
        assert form.is_valid() and form.cleaned_data["credit_limit"] == D("1500.25")

    @pytest.mark.django_db
    def test_django_admin_builds_the_strict_field(self, admin_user):
        request = RequestFactory().get("/admin/")
        request.user = admin_user
        model_admin = admin.site._registry[Customer]
        field = model_admin.formfield_for_dbfield(Customer._meta.get_field("credit_limit"), request)
        assert isinstance(field, AmountField)
        for raw in ("1e5", "10,00", "١٠"):
            with pytest.raises(ValidationError):
                field.clean(raw)


class TestAmountPattern:
    """amount_pattern (the API schema's `pattern` of an amount) accepts exactly what parse_amount accepts
    without a sign, surrounding whitespace aside."""

    @staticmethod
    def _parses(text: str, allow_zero: bool) -> bool:
        try:
            parse_amount(text, allow_zero=allow_zero)
        except MoneyError:
            return False
        return True

    @pytest.mark.parametrize("allow_zero", [False, True])
    @settings(max_examples=400, derandomize=True, database=None)
    @given(text=st.text(alphabet="0123456789,.+-e", max_size=24) | st.from_regex(r"\A[0-9]{13,16}(\.[0-9]{5,8})?\Z"))
    def test_it_agrees_with_the_parser(self, allow_zero, text):
        import re

        assert bool(re.fullmatch(amount_pattern(allow_zero=allow_zero), text)) == self._parses(text, allow_zero), text

    @pytest.mark.parametrize("allow_zero", [False, True])
    @settings(max_examples=200, derandomize=True, database=None)
    @given(data=st.data())
    def test_every_string_it_generates_parses(self, allow_zero, data):
        text = data.draw(st.from_regex(amount_pattern(allow_zero=allow_zero)))
        assert self._parses(text, allow_zero), repr(text)

    @pytest.mark.parametrize(("text", "zero_ok", "positive_ok"), [
        ("12.50", True, True), ("0.004", True, True), (".5", True, True), ("1,234.50", True, True),
        ("99,999,999,999,999.999999", True, True), ("00000000099999999999999", True, True),
        ("0", True, False), ("0.000000", True, False), ("0,000", False, False), ("100,000,000,000,000", False, False),
        ("1.1234567", False, False), ("5.", False, False), ("-1", False, False), ("+1", False, False),
    ])
    def test_examples(self, text, zero_ok, positive_ok):
        import re

        assert bool(re.fullmatch(amount_pattern(allow_zero=True), text)) is zero_ok
        assert bool(re.fullmatch(amount_pattern(allow_zero=False), text)) is positive_ok


class TestCurrencies:
    @pytest.mark.parametrize(("raw", "code"), [("SGD", "SGD"), ("usd", "USD"), (" eur ", "EUR"), ("JPY", "JPY")])
    def test_iso_codes_are_accepted_and_upper_cased(self, raw, code):
        assert clean_currency(raw) == code

    @pytest.mark.parametrize("raw", ["", "SG", "SGDX", "ABC", "XXX", "XTS", "ÄÖÜ", "ＳＧＤ", "S G", "12$", None, 702])
    def test_anything_else_is_refused(self, raw):
        with pytest.raises(CurrencyError, match="ISO 4217"):
            clean_currency(raw)

    def test_the_list_is_three_capital_ascii_letters(self):
        assert len(ISO_4217) > 150 and all(len(c) == 3 and c.isascii() and c.isupper() for c in ISO_4217)
        assert {"SGD", "USD", "EUR", "JPY", "KWD"} <= ISO_4217

    def test_the_validator_and_the_form_field(self):
        validate_currency("SGD")
        for bad in ("sgd", "ABC", " SGD"):
            with pytest.raises(ValidationError):
                validate_currency(bad)
        field = CurrencyField()
        assert field.clean("sgd") == "SGD"
        with pytest.raises(ValidationError, match="ABC is not an ISO 4217 currency code"):
            field.clean("abc")

    @pytest.mark.django_db
    def test_the_database_refuses_a_currency_that_is_not_three_capital_letters(self):
        with pytest.raises(IntegrityError), transaction.atomic():
            MasterWallet.objects.create(name="Bad", currency="sg$")
