from django.apps import AppConfig


class FinanceConfig(AppConfig):
    name = "finance"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self):
        # The apps below cannot import finance; finance plugs its rows into what they do:
        # - the monthly billing run pays its invoice with customers' unallocated payment cash as finance
        #   allocations (so the same money is never allocated again), not as credit naming no payment;
        # - check_ledger also reports any customer whose invoices were applied more money than came in.
        from customers.selectors import register_ledger_check
        from invoices.services.billing import CashSource, register_cash_source

        from .selectors import money_applied_ledger_mismatches, unallocated_cash
        from .services.allocation import allocate_cash_locked

        register_cash_source(CashSource(available=unallocated_cash, allocate=allocate_cash_locked))
        register_ledger_check("finance.money_applied", money_applied_ledger_mismatches)
