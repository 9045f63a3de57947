from django.db.models import Count, Q, Sum

from customers.models import Customer
from customers.money import ZERO


def dashboard_figures() -> dict:
    """The few totals the finance team looks at first, per currency (SGD and USD are never added together):
    one grouped aggregate query, whatever the number of customers or currencies."""
    rows = list(Customer.objects.values("currency").order_by("currency").annotate(
        count=Count("id"),
        prepaid=Count("id", filter=Q(account_type="prepaid")),
        postpaid=Count("id", filter=Q(account_type="postpaid")),
        unbilled=Sum("amount_unbilled"),
        due=Sum("amount_due"),
        reserved=Sum("amount_reserved"),
        in_debt=Count("id", filter=Q(amount_due__lt=0)),
    ))
    for row in rows:
        for key in ("unbilled", "due", "reserved"):
            row[key] = row[key] or ZERO
        row["balance"] = row["unbilled"] + row["due"]
    customers = {key: sum(row[key] for row in rows) for key in ("count", "prepaid", "postpaid")}
    return {"customers": customers, "currencies": rows}
