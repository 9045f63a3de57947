"""Finance models, one module per concern: payments.py (payments, allocations, top-ups, credit notes,
withdrawals), settings.py (payment settings, auto top-up runs), stripe.py (card payments, Stripe events)."""

from .payments import *  # noqa: F401,F403
from .settings import *  # noqa: F401,F403
from .stripe import *  # noqa: F401,F403
