"""Banking reads: the lists' querysets (one query each, whatever the row count)."""

from __future__ import annotations

from decimal import Decimal

from django.db.models import F, Prefetch, QuerySet

from finance.models import Payment
from finance.payments.selectors import AllocationPreview, allocation_preview, open_invoices

from .models import BankAccount, ImportJob, RefusedFile, Statement, StatementLine, Suggestion


def bank_accounts() -> QuerySet[BankAccount]:
    """Every bank account, by name (the list's filters: filters.BankAccountFilterSet)."""
    return BankAccount.objects.order_by("name", "id")


def bank_account_currencies() -> list[str]:
    """The currencies of the bank accounts (a handful of rows), in order."""
    return list(BankAccount.objects.order_by("currency").values_list("currency", flat=True).distinct())


def statements() -> QuerySet[Statement]:
    """Every statement, the last imported first (the list's filters: filters.StatementFilterSet)."""
    return Statement.objects.select_related("account").order_by("-imported_at", "-id")


def imported_before(account: BankAccount, sha256: str) -> bool:
    return Statement.objects.filter(account=account, file_sha256=sha256).exists()


def refused_before(account: BankAccount, sha256: str) -> RefusedFile | None:
    """The refusal of a file with this content in this account, unless the account was edited since (its CSV
    mapping may read the file now): a folder import then skips the file instead of refusing it again."""
    return RefusedFile.objects.filter(account=account, file_sha256=sha256, refused_at__gte=account.updated_at).first()


def statement_lines(statement: Statement):
    return statement.lines.order_by("position")


def import_job(job_id: int) -> ImportJob | None:
    return ImportJob.objects.select_related("account", "statement").defer("content").filter(pk=job_id).first()


def _top_suggestion() -> Prefetch:
    """Each line's best suggestion with its customer's name (`customer_name`), what the inbox shows of it (one per
    line: no order)."""
    return Prefetch("suggestions", to_attr="top",
                    queryset=Suggestion.objects.filter(rank=1).annotate(customer_name=F("customer__name")).order_by())


def statement_lines_inbox() -> QuerySet[StatementLine]:
    """The reconcile inbox's lines, best suggestions first (which lines: filters.LineFilterSet, the lines still to
    reconcile by default, read in this order from statement_line_open_idx). Each row's best suggestion comes with
    it (one query for the page's rows, whatever their number). Joined: only what the page and its CSV show (the
    account's code; a payment or withdrawal is shown by its id, a suggestion's customer by its name): the
    payment's, the withdrawal's and the customer's whole rows, built as model instances and never read, were
    0.7-1 ms of a page."""
    return (StatementLine.objects.select_related("account")
            .prefetch_related(_top_suggestion()).order_by("-best_score", "-booking_date", "-id"))


def statement_line(line_id: int) -> StatementLine | None:
    return (StatementLine.objects.select_related("account", "statement", "payment__customer", "withdrawal__customer")
            .filter(pk=line_id).first())


def line_suggestions(line: StatementLine) -> list[Suggestion]:
    return list(line.suggestions.select_related("customer", "payment", "withdrawal").order_by("rank"))


def allocation_choices(suggestion: Suggestion) -> list[dict]:
    """The open invoices of the suggestion's customer, each with the amount the suggestion allocates to it (0 for
    the others), for the allocation edited before confirming."""
    if suggestion.customer_id is None:
        return []
    suggested = {int(a["invoice"]): Decimal(a["amount"]) for a in suggestion.allocations}
    invoices = open_invoices(customer_id=suggestion.customer_id, limit=100)
    return [{"invoice": i, "amount": suggested.get(i.pk, Decimal(0))} for i in invoices]


def line_allocation_preview(line: StatementLine, lines: list[tuple[object, object]]) -> AllocationPreview:
    """finance's allocation preview of the payment the line would record (not saved, nothing locked)."""
    return allocation_preview(Payment(amount=line.amount, currency=line.currency, received_date=line.booking_date),
                              lines)
