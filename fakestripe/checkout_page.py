"""The hosted Checkout page at ``/pay/{session}``: a plain HTML form, no JavaScript.

Stands in for ``checkout.stripe.com``: it shows what is being paid, takes a card number (prefilled
with the always-succeeding 4242 4242 4242 4242) and posts it back to the same url. The cancel link
goes to the session's ``cancel_url``, as Stripe's back link does.
"""

from __future__ import annotations

from html import escape
from typing import Any

from .cards import SUCCESS_VISA

# Currencies Stripe counts in whole units (https://docs.stripe.com/currencies#zero-decimal).
ZERO_DECIMAL = {
    "bif",
    "clp",
    "djf",
    "gnf",
    "jpy",
    "kmf",
    "krw",
    "mga",
    "pyg",
    "rwf",
    "ugx",
    "vnd",
    "vuv",
    "xaf",
    "xof",
    "xpf",
}

_STYLE = (
    "body{font-family:system-ui,sans-serif;max-width:32rem;margin:3rem auto;padding:0 1rem;color:#1a1f36}"
    "table{width:100%;border-collapse:collapse}td{padding:.3rem 0}td.amount{text-align:right}"
    "label,input,button{display:block;width:100%;box-sizing:border-box;font-size:1rem}"
    "input{padding:.5rem;margin:.3rem 0 1rem}button{padding:.7rem;background:#635bff;color:#fff;border:0}"
    ".error{color:#df1b41}.total{font-weight:bold;border-top:1px solid #ccc}"
)


def format_amount(amount: int, currency: str) -> str:
    """Minor units as the customer reads them, e.g. 1999 eur -> '19.99 EUR', 500 jpy -> '500 JPY'."""
    if currency.lower() in ZERO_DECIMAL:
        return f"{amount} {currency.upper()}"
    return f"{amount // 100}.{amount % 100:02d} {currency.upper()}"


def _document(title: str, body: str) -> str:
    return (
        '<!doctype html>\n<html lang="en"><head><meta charset="utf-8"><link rel="icon" href="data:,">'
        f"<title>{escape(title)}</title><style>{_STYLE}</style></head>\n"
        f"<body>\n<p><small>fakestripe test mode</small></p>\n{body}\n</body></html>\n"
    )


def payment_page(
    session: dict[str, Any],
    line_items: list[dict[str, Any]],
    *,
    error: str | None = None,
    card: str = SUCCESS_VISA,
) -> str:
    """The payment form for an open session, with the last attempt's error if any."""
    currency = session["currency"]
    rows = "".join(
        f"<tr><td>{escape(item['description'])} &times; {item['quantity']}</td>"
        f'<td class="amount">{format_amount(item["amount_total"], currency)}</td></tr>'
        for item in line_items
    )
    rows += (
        f'<tr class="total"><td>Total</td>'
        f'<td class="amount">{format_amount(session["amount_total"], currency)}</td></tr>'
    )
    error_html = f'<p class="error" role="alert">{escape(error)}</p>' if error else ""
    cancel = session.get("cancel_url")
    cancel_html = f'<p><a href="{escape(cancel)}">Cancel and go back</a></p>' if cancel else ""
    body = (
        "<h1>Pay</h1>\n"
        f"<table>{rows}</table>\n{error_html}\n"
        f'<form method="post" action="/pay/{escape(session["id"])}">'
        '<label for="card">Card number</label>'
        f'<input id="card" name="card" inputmode="numeric" autocomplete="cc-number" value="{escape(card)}">'
        '<button type="submit">Pay</button></form>\n'
        f"{cancel_html}"
    )
    return _document("Pay", body)


def message_page(title: str, text: str, link: str | None = None) -> str:
    """A page with a single message (session finished, unknown session, paid without success_url)."""
    link_html = f'<p><a href="{escape(link)}">Continue</a></p>' if link else ""
    return _document(title, f"<h1>{escape(title)}</h1>\n<p>{escape(text)}</p>\n{link_html}")
