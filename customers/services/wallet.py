"""The operator's master wallet: funding it, and issuing credit from it to a customer. A transfer is one
transaction with both legs (the wallet's entry and the customer's TRANSFER entry); the wallet never goes
below zero. Locks: the customer, then the wallet (the project's lock order); a transfer takes the wallet's
last of all, by its debit (see master_wallet_transfer)."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from django.db import IntegrityError, transaction
from django.db.models import F

from audit.actors import Actor
from audit.services import audit_record

from .. import ledger
from ..currencies import CurrencyError, clean_currency
from ..locks import debit_master_wallet, lock_master_wallet
from ..models import Customer, MasterWallet, MasterWalletEntry, Transaction, TransactionKind
from ..selectors import default_wallet_id  # re-exported: finance's auto top-up imports it from here
from ._common import amount_or_error, figures, locked_customer, money_text

# A transfer's reference when staff give none: the customer reads it (portal, CSV). Until issue 19 it was
# "From <wallet name>", the operator's wallet; the portal shows rows stored that way with this text instead
# (portal.selectors.transaction_text), since ledger rows are never updated.
TRANSFER_REFERENCE = "Top-up from master account"
LEGACY_TRANSFER_PREFIX = "From "


class WalletError(ValueError):
    """A master-wallet movement that cannot be made; the message says why."""


class WalletTooLowError(WalletError):
    """The wallet holds less than the amount to transfer: `balance` is what it held when refused."""

    def __init__(self, wallet: MasterWallet, amount: Decimal):
        self.wallet_name, self.balance, self.currency, self.amount = wallet.name, wallet.balance, wallet.currency, amount
        super().__init__(f"The master wallet {wallet.name} holds only {money_text(wallet.balance, wallet.currency)}: "
                         f"{money_text(amount, wallet.currency)} cannot be transferred.")


@transaction.atomic
def master_wallet_create(*, name: str, currency: str, actor: Actor, at: dt.datetime | None = None) -> MasterWallet:
    """A new, empty master wallet (one per currency is the usual setup)."""
    name = (name or "").strip()
    if not name or len(name) > 100:
        raise WalletError("The wallet needs a name of 1 to 100 characters.")
    try:
        currency = clean_currency(currency)
    except CurrencyError as exc:
        raise WalletError(str(exc))
    if MasterWallet.objects.filter(name=name).exists():
        raise WalletError(f"There is already a wallet named {name!r}.")
    try:
        with transaction.atomic():
            wallet = MasterWallet.objects.create(name=name, currency=currency)
    except IntegrityError:
        raise WalletError(f"There is already a wallet named {name!r}.")
    audit_record(actor=actor, action="customers.master_wallet.create", app="customers", obj=wallet,
                 after={"name": name, "currency": currency}, at=at)
    return wallet


def _locked_wallet(wallet_id: int) -> MasterWallet:
    try:
        return lock_master_wallet(wallet_id)
    except MasterWallet.DoesNotExist:
        raise WalletError(f"There is no master wallet #{wallet_id}.")


@transaction.atomic
def master_wallet_fund(
    *,
    wallet_id: int,
    amount: Decimal,
    reference: str,
    actor: Actor,
    at: dt.datetime,
) -> MasterWalletEntry:
    """The operator adds money to its master wallet."""
    amount = amount_or_error(amount, WalletError)
    reference = (reference or "").strip()
    if not reference:
        raise WalletError("Give a reference for the funding (where the money comes from).")
    wallet = _locked_wallet(wallet_id)
    before = {"balance": wallet.balance}
    entry = MasterWalletEntry.objects.create(wallet=wallet, amount=amount, reference=reference[:120], created_at=at)
    MasterWallet.objects.filter(pk=wallet.pk).update(balance=F("balance") + amount)
    wallet.refresh_from_db(fields=["balance"])
    audit_record(actor=actor, action="customers.master_wallet.fund", app="customers", obj=wallet,
                 before=before, after={"balance": wallet.balance, "amount": amount, "reference": entry.reference},
                 at=at)
    return entry


def master_wallet_transfer(
    *,
    customer_id: int,
    amount: Decimal,
    actor: Actor,
    at: dt.datetime,
    wallet_id: int | None = None,
    reference: str = "",
    idempotency_key: str | None = None,
) -> Transaction:
    """Issue `amount` of credit from the master wallet (the first one in the customer's currency unless
    `wallet_id` is given) to the customer. Refused when the wallet holds less (WalletTooLowError). Returns
    the customer's TRANSFER entry (its master-wallet leg as `.master_wallet_entry`); a retry with the same
    idempotency key returns it and moves nothing.

    The wallet is debited LAST, by one conditional UPDATE (balance >= amount, in the right currency), so its
    row lock is held from that statement to the COMMIT only, not while the customer's legs are written:
    transfers from one wallet by concurrent workers queue for a moment, not for a whole top-up. A refusal
    there rolls back the legs already written (this function's own transaction or savepoint).

    Its body is one atomic block (`_transfer`), not this function: the idempotency key's IntegrityError (another
    customer's transfer with that key, committed meanwhile) is turned into WalletError after that block rolled
    back, without a savepoint of its own around the ledger's insert."""
    try:
        return _transfer(customer_id=customer_id, amount=amount, actor=actor, at=at, wallet_id=wallet_id,
                         reference=reference, idempotency_key=idempotency_key)
    except IntegrityError as error:  # rolled back already (the atomic block of `_transfer`)
        if idempotency_key and "txn_idempotency_key_unique" in str(error):
            raise WalletError(f"The idempotency key {idempotency_key!r} was already used for something else.")
        raise


def _refusal(wallet: MasterWallet | None, wallet_id: int, customer: Customer) -> WalletError | None:
    if wallet is None:
        return WalletError(f"There is no master wallet #{wallet_id}.")
    if wallet.currency != customer.currency:
        return WalletError(f"The wallet {wallet.name} holds {wallet.currency}; {customer.code} is billed in "
                           f"{customer.currency}.")
    return None


def _debit(wallet_id: int, customer: Customer, amount: Decimal) -> tuple[Decimal, str]:
    """locks.debit_master_wallet (the wallet's row locked from here to the COMMIT). Returns the balance left
    and the wallet's name. When it touches no row, the wallet is read to say why; a wallet funded in between
    (it now holds enough) is debited again."""
    for _attempt in range(3):
        debited = debit_master_wallet(wallet_id, amount=amount, currency=customer.currency)
        if debited is not None:
            return debited
        wallet = MasterWallet.objects.filter(pk=wallet_id).first()
        refused = _refusal(wallet, wallet_id, customer)
        if refused is not None:
            raise refused
        if wallet.balance < amount:
            raise WalletTooLowError(wallet, amount)
    raise WalletTooLowError(wallet, amount)


@transaction.atomic
def _transfer(*, customer_id: int, amount: Decimal, actor: Actor, at: dt.datetime, wallet_id: int | None,
              reference: str, idempotency_key: str | None) -> Transaction:
    amount = amount_or_error(amount, WalletError)
    customer = locked_customer(customer_id, WalletError)
    if wallet_id is None:
        wallet_id = default_wallet_id(customer.currency)
        if wallet_id is None:
            raise WalletError(f"There is no master wallet in {customer.currency}.")
    if idempotency_key:
        existing = Transaction.objects.filter(idempotency_key=idempotency_key).first()
        if existing is not None:  # a retry: the wallet checked as the first call checked it, nothing moves
            refused = _refusal(MasterWallet.objects.filter(pk=wallet_id).first(), wallet_id, customer)
            if refused is not None:
                raise refused
            if (existing.customer_id, existing.kind, existing.amount) != (customer.pk, TransactionKind.TRANSFER,
                                                                         amount):
                raise WalletError(f"The idempotency key {idempotency_key!r} was already used for something else.")
            return existing
    before = figures(customer)
    # The ledger row is the customer's (portal, CSV): the wallet's name is ours, so it stays in the audit
    # event and the master wallet's entry (wallet), never in the customer's default reference.
    reference = (reference or "").strip() or TRANSFER_REFERENCE
    (row,) = ledger.post(customer, [ledger.Entry(
        kind=TransactionKind.TRANSFER, amount=amount, reference=reference, source_type="customers.masterwallet",
        source_id=wallet_id, idempotency_key=idempotency_key or None)], at=at)
    # The entry's foreign key to the wallet takes FOR KEY SHARE, which the debit's lock does not wait for.
    MasterWalletEntry.objects.create(wallet_id=wallet_id, amount=-amount, customer=customer, transaction=row,
                                     reference=reference[:120], created_at=at)
    balance, name = _debit(wallet_id, customer, amount)
    audit_record(actor=actor, action="customers.master_wallet.transfer", app="customers", obj=row,
                 customer_id=customer.pk, before={**before, "wallet_balance": balance + amount},
                 after={**figures(customer), "wallet_balance": balance, "amount": amount, "wallet": name}, at=at)
    return row
