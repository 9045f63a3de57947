"""Stripe's test card numbers and what each does, in the hosted checkout and in off-session charges."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from enum import Enum


class Outcome(Enum):
    """What a card does when charged."""

    SUCCEED = "succeed"
    DECLINE = "decline"  # the issuer declines every charge
    ATTACH_THEN_DECLINE = "attach_then_decline"  # saving works, charging fails (4000000000000341)
    ALWAYS_AUTHENTICATE = "always_authenticate"  # 3D Secure on every payment, even off-session
    AUTHENTICATE_ON_SESSION = "authenticate_on_session"  # 3D Secure once; off-session later succeeds


@dataclass(frozen=True)
class TestCard:
    """One of Stripe's documented test cards (https://docs.stripe.com/testing)."""

    __test__ = False  # not a pytest test class despite the name

    number: str
    brand: str
    outcome: Outcome
    decline_code: str | None = None
    message: str | None = None

    @property
    def last4(self) -> str:
        return self.number[-4:]

    @property
    def fingerprint(self) -> str:
        """Stable per number, as Stripe's card fingerprint is."""
        return hashlib.sha256(self.number.encode()).hexdigest()[:16]


DECLINED = "Your card was declined."

SUCCESS_VISA = "4242424242424242"
SUCCESS_MASTERCARD = "5555555555554444"
DECLINE_GENERIC = "4000000000000002"
DECLINE_INSUFFICIENT_FUNDS = "4000000000009995"
ATTACH_THEN_DECLINE = "4000000000000341"
AUTHENTICATION_ALWAYS = "4000002760003184"
AUTHENTICATION_ON_SESSION = "4000002500003155"

TEST_CARDS: dict[str, TestCard] = {
    card.number: card
    for card in (
        TestCard(SUCCESS_VISA, "visa", Outcome.SUCCEED),
        TestCard(SUCCESS_MASTERCARD, "mastercard", Outcome.SUCCEED),
        TestCard(DECLINE_GENERIC, "visa", Outcome.DECLINE, "generic_decline", DECLINED),
        TestCard(
            DECLINE_INSUFFICIENT_FUNDS,
            "visa",
            Outcome.DECLINE,
            "insufficient_funds",
            "Your card has insufficient funds.",
        ),
        TestCard(ATTACH_THEN_DECLINE, "visa", Outcome.ATTACH_THEN_DECLINE, "generic_decline", DECLINED),
        TestCard(AUTHENTICATION_ALWAYS, "visa", Outcome.ALWAYS_AUTHENTICATE),
        TestCard(AUTHENTICATION_ON_SESSION, "visa", Outcome.AUTHENTICATE_ON_SESSION),
    )
}


class CardRejected(Exception):
    """A card number the payment form refuses before any charge (Stripe's ``incorrect_number``, live cards)."""

    def __init__(self, code: str, message: str, decline_code: str | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.decline_code = decline_code


def luhn_valid(number: str) -> bool:
    """The checksum every card number carries."""
    total = 0
    for index, char in enumerate(reversed(number)):
        digit = int(char)
        if index % 2:
            digit *= 2
            if digit > 9:
                digit -= 9
        total += digit
    return total % 10 == 0


def lookup(raw_number: str) -> TestCard:
    """The test card for a number typed into a form (spaces allowed), or ``CardRejected`` as Stripe would."""
    number = raw_number.replace(" ", "").replace("-", "")
    if not number.isdigit() or not 12 <= len(number) <= 19 or not luhn_valid(number):
        raise CardRejected("incorrect_number", "Your card number is incorrect.")
    card = TEST_CARDS.get(number)
    if card is None:
        raise CardRejected(
            "card_declined",
            "Your card was declined. Your request was in test mode, but used a non test (live) card. "
            "For a list of valid test cards, visit: https://stripe.com/docs/testing.",
            decline_code="test_mode_live_card",
        )
    return card
