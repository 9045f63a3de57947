"""Banking rows in Django admin: browsed and searched only. Bank accounts are registered and edited on the
Bank pages (audited); statements and their lines are what the bank sent, never edited."""

from django.contrib import admin

from common.admin import ReadOnlyAdmin

from .models import BankAccount, ImportJob, RefusedFile, Statement, StatementLine, Suggestion


@admin.register(BankAccount)
class BankAccountAdmin(ReadOnlyAdmin):
    list_display = ["name", "code", "iban", "currency", "created_at"]
    search_fields = ["name", "code", "iban"]
    list_filter = ["currency"]


@admin.register(Statement)
class StatementAdmin(ReadOnlyAdmin):
    list_display = ["id", "account", "file_name", "format", "lines_total", "lines_new", "lines_duplicate",
                    "imported_at", "imported_by"]
    list_filter = ["format", "account"]
    search_fields = ["file_name", "statement_ref", "file_sha256"]
    list_select_related = ["account"]
    date_hierarchy = "imported_at"


@admin.register(StatementLine)
class StatementLineAdmin(ReadOnlyAdmin):
    list_display = ["id", "account", "booking_date", "amount", "currency", "payer_name", "reference", "state",
                    "best_score", "payment", "withdrawal"]
    list_filter = ["state", "account"]
    search_fields = ["payer_name", "reference", "bank_reference", "remittance_text", "identity"]
    list_select_related = ["account", "payment", "withdrawal"]
    raw_id_fields = ["statement", "payment", "withdrawal"]
    date_hierarchy = "booking_date"


@admin.register(ImportJob)
class ImportJobAdmin(ReadOnlyAdmin):
    list_display = ["id", "account", "file_name", "file_size", "state", "created_at", "created_by", "finished_at"]
    list_filter = ["state"]
    search_fields = ["file_name", "task_id"]
    list_select_related = ["account"]
    exclude = ["content"]


@admin.register(Suggestion)
class SuggestionAdmin(ReadOnlyAdmin):
    list_display = ["id", "line", "rank", "score", "kind", "customer", "payment", "withdrawal"]
    list_filter = ["kind"]
    search_fields = ["customer__name", "customer__code"]
    list_select_related = ["line", "customer", "payment", "withdrawal"]


@admin.register(RefusedFile)
class RefusedFileAdmin(ReadOnlyAdmin):
    list_display = ["id", "account", "file_name", "file_sha256", "refused_at"]
    list_filter = ["account"]
    search_fields = ["file_name", "file_sha256"]
    list_select_related = ["account"]
