from django.db.models import Count, Q, Sum

from customers.models import Customer
from customers.money import ZERO


def dashboard_figures() -> dict:
    """The few totals the finance team looks at first; one aggregate query each, whatever the size."""
    customers = Customer.objects.aggregate(
        count=Count("id"),
        prepaid=Count("id", filter=Q(account_type="prepaid")),
        postpaid=Count("id", filter=Q(account_type="postpaid")),
        unbilled=Sum("amount_unbilled"),
        due=Sum("amount_due"),
        reserved=Sum("amount_reserved"),
        in_debt=Count("id", filter=Q(amount_due__lt=0)),
    )
    for key in ("unbilled", "due", "reserved"):
        customers[key] = customers[key] or ZERO
    customers["balance"] = customers["unbilled"] + customers["due"]
    return {"figures": customers}
