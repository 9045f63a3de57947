"""The finance pages, one namespace ("finance") over the concerns' own URL lists: payments (with allocations,
top-ups, credit notes and withdrawals), auto top-up (payment settings and runs) and the reports. Stripe's
webhook has its own namespace under /stripe/ (finance/cards/urls.py)."""

from .auto_top_up.urls import urlpatterns as auto_top_up
from .payments.urls import urlpatterns as payments
from .receivables.urls import urlpatterns as receivables

app_name = "finance"

urlpatterns = payments + auto_top_up + receivables
