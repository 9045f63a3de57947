"""Consistency checks over the finance rows (check_finance, check_ledger and the tests): each returns what is
wrong, an empty list when nothing is. Nothing here writes."""

from __future__ import annotations

from decimal import Decimal

# Per customer, from the rows (not the cached totals): the money in on the billed side (every `due` entry but
# the invoices' own totals: payments assigned, corrections, credit notes, credit moved over from unbilled,
# withdrawals, the due leg of top-ups and their removal, individual customers' top-ups) against everything
# applied to their purchase and monthly invoices (active allocations, the billing run's credit applications,
# credit notes against an invoice). Applied more than came in means some money settled two invoices.
# Top-up invoices are deposits: provisioning one moves money into credit, it settles no debt.
_MONEY_APPLIED_SQL = """
WITH applied AS (
    SELECT customer_id, SUM(amount) AS s FROM (
        SELECT a.customer_id, a.amount
          FROM finance_allocation a JOIN invoices_invoice i ON i.id = a.invoice_id
         WHERE a.reversed_at IS NULL AND i.type <> 'top_up'
        UNION ALL
        SELECT customer_id, amount FROM invoices_creditapplication
        UNION ALL
        SELECT customer_id, amount FROM finance_creditnote WHERE invoice_id IS NOT NULL
    ) x GROUP BY customer_id
), money_in AS (  -- one pass over the ledger (probing it per customer was 69,544 index scans: 3.3 s)
    SELECT t.customer_id, SUM(t.amount) AS s
      FROM customers_transaction t
     WHERE t.bucket = 'due' AND t.kind NOT IN ('invoice', 'invoice_void')
     GROUP BY t.customer_id
)
SELECT c.id, c.code, COALESCE(m.s, 0), ap.s
  FROM applied ap
  JOIN customers_customer c ON c.id = ap.customer_id
  LEFT JOIN money_in m ON m.customer_id = ap.customer_id
 WHERE ap.s > COALESCE(m.s, 0)
 ORDER BY c.id
"""


# Per customer, from the cached totals: the payments' unallocated cash is part of the money in that no invoice
# has used yet (amount due + outstanding on open purchase / monthly invoices), so it can never be more. More
# means some of that cash already paid an invoice without an allocation saying so (as the billing run's credit
# did before it allocated payments' cash), and finance would let it be allocated a second time.
_CASH_SQL = """
WITH cash AS (
    SELECT customer_id, SUM(amount - amount_allocated - amount_topped_up) AS s
      FROM finance_payment
     WHERE customer_id IS NOT NULL AND deleted_at IS NULL
     GROUP BY customer_id
    HAVING SUM(amount - amount_allocated - amount_topped_up) > 0
), owed AS (
    SELECT customer_id, SUM(total - amount_paid - amount_credited) AS s
      FROM invoices_invoice
     WHERE open_receivable AND customer_id IN (SELECT customer_id FROM cash)
     GROUP BY customer_id
)
SELECT c.id, c.code, cash.s, c.amount_due + COALESCE(owed.s, 0)
  FROM cash
  JOIN customers_customer c ON c.id = cash.customer_id
  LEFT JOIN owed ON owed.customer_id = cash.customer_id
 WHERE cash.s > c.amount_due + COALESCE(owed.s, 0)
 ORDER BY c.id
"""


def money_applied_mismatches() -> list[tuple[int, str, Decimal, Decimal]]:
    """Customers whose invoices were paid with more money than came in: (id, code, money in, applied).
    One query, set-based. Equivalent to invoices.selectors.unapplied_money < 0 when the cached totals are
    right (finance_mismatches checks those as well)."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(_MONEY_APPLIED_SQL)
        return list(cursor.fetchall())


def cash_mismatches() -> list[tuple[int, str, Decimal, Decimal]]:
    """Customers whose payments show more unallocated cash than the money in not yet used on an invoice:
    (id, code, unallocated cash, unapplied money). One query."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(_CASH_SQL)
        return list(cursor.fetchall())


def money_in_mismatches() -> list[str]:
    """The two checks on the money in, one wording each, reported by check_finance (within finance_mismatches)
    and by check_ledger alike: invoices applied more than came in (money_applied_mismatches), payment cash
    shown unallocated that an invoice already used (cash_mismatches)."""
    lines = [f"customer {code} (#{pk}): {applied} applied to its invoices (allocations, credit applications, "
             f"credit notes) but only {money_in} came in; the same money settled more than one invoice"
             for pk, code, money_in, applied in money_applied_mismatches()]
    lines += [f"customer {code} (#{pk}): its payments show {cash} unallocated but only {unapplied} of the money in "
              "is not yet used on an invoice; part of that cash already paid an invoice without an allocation"
              for pk, code, cash, unapplied in cash_mismatches()]
    return lines


# Each cached finance total against its rows, set-based: the rows are summed once per table (GROUP BY) and joined
# to the objects once, instead of correlated subqueries per payment, per invoice and per top-up (12.6 s at
# 300,000 invoices and payments, bench/README.md "check_ledger"). Each statement keeps the order the lines were
# always reported in (the models' default ordering).
_PAYMENT_TOTALS_SQL = """
WITH allocated AS (SELECT payment_id, SUM(amount) AS s FROM finance_allocation
                    WHERE reversed_at IS NULL AND payment_id IS NOT NULL GROUP BY payment_id),
     topped AS (SELECT payment_id, SUM(amount) AS s FROM finance_topup
                 WHERE invoice_id IS NULL AND removed_at IS NULL GROUP BY payment_id)
SELECT p.id, p.amount_allocated, COALESCE(allocated.s, 0), p.amount_topped_up, COALESCE(topped.s, 0)
  FROM finance_payment p
  LEFT JOIN allocated ON allocated.payment_id = p.id
  LEFT JOIN topped ON topped.payment_id = p.id
 WHERE p.amount_allocated <> COALESCE(allocated.s, 0) OR p.amount_topped_up <> COALESCE(topped.s, 0)
 ORDER BY p.received_date DESC, p.id DESC
"""
_INVOICE_TOTALS_SQL = """
WITH allocated AS (SELECT invoice_id, SUM(amount) AS s FROM finance_allocation
                    WHERE reversed_at IS NULL GROUP BY invoice_id),
     applied AS (SELECT invoice_id, SUM(amount) AS s FROM invoices_creditapplication GROUP BY invoice_id),
     credited AS (SELECT invoice_id, SUM(amount) AS s FROM finance_creditnote
                   WHERE invoice_id IS NOT NULL GROUP BY invoice_id)
SELECT i.number, i.amount_paid, COALESCE(allocated.s, 0), COALESCE(applied.s, 0), i.amount_credited,
       COALESCE(credited.s, 0)
  FROM invoices_invoice i
  LEFT JOIN allocated ON allocated.invoice_id = i.id
  LEFT JOIN applied ON applied.invoice_id = i.id
  LEFT JOIN credited ON credited.invoice_id = i.id
 WHERE i.amount_paid <> COALESCE(allocated.s, 0) + COALESCE(applied.s, 0)
    OR i.amount_credited <> COALESCE(credited.s, 0)
 ORDER BY i.issue_date DESC, i.id DESC
"""
_PROVISIONING_SQL = """
WITH active AS (SELECT DISTINCT invoice_id FROM finance_topup WHERE invoice_id IS NOT NULL AND removed_at IS NULL)
SELECT i.number, i.provisioned_at, active.invoice_id IS NOT NULL
  FROM invoices_invoice i
  LEFT JOIN active ON active.invoice_id = i.id
 WHERE i.type = 'top_up'
   AND ((active.invoice_id IS NOT NULL AND i.provisioned_at IS NULL)
        OR (active.invoice_id IS NULL AND i.provisioned_at IS NOT NULL))
 ORDER BY i.issue_date DESC, i.id DESC
"""
_TOP_UP_LEDGER_SQL = """
WITH ledger AS (SELECT source_id, SUM(amount) FILTER (WHERE bucket = 'due') AS due,
                       SUM(amount) FILTER (WHERE bucket = 'unbilled') AS unbilled
                  FROM customers_transaction WHERE source_type = 'finance.topup' GROUP BY source_id),
     top_ups AS (SELECT t.id, t.created_at, COALESCE(ledger.due, 0) AS due, COALESCE(ledger.unbilled, 0) AS unbilled,
                        CASE WHEN t.posted_to_ledger AND t.removed_at IS NULL THEN t.amount ELSE 0 END AS expected
                   FROM finance_topup t LEFT JOIN ledger ON ledger.source_id = t.id)
SELECT id, due, unbilled, expected FROM top_ups
 WHERE unbilled <> expected OR due <> -expected
 ORDER BY created_at DESC, id DESC
"""


def finance_mismatches() -> list[str]:
    """Every cached finance total that differs from the rows it stands for (set-based, six queries):
    a payment's allocated / topped-up amounts, an invoice's paid / credited amounts (finance allocations,
    the billing run's credit applications, credit notes), provisioning flags, each top-up's ledger pair;
    and any customer whose invoices were applied more money than came in (money_applied_mismatches) or
    whose payments show more unallocated cash than the money in not yet used (cash_mismatches)."""
    from django.db import connection

    found: list[str] = []
    with connection.cursor() as cursor:
        cursor.execute(_PAYMENT_TOTALS_SQL)
        found += [f"payment #{pk}: allocated {allocated} vs rows {allocated_rows}, topped up {topped} vs rows "
                  f"{topped_rows}" for pk, allocated, allocated_rows, topped, topped_rows in cursor.fetchall()]
        cursor.execute(_INVOICE_TOTALS_SQL)
        found += [f"invoice {number}: paid {paid} vs allocations {allocated_rows} + credit applications "
                  f"{applied_rows}; credited {credited} vs credit notes {credited_rows}"
                  for number, paid, allocated_rows, applied_rows, credited, credited_rows in cursor.fetchall()]
        cursor.execute(_PROVISIONING_SQL)
        found += [f"top-up invoice {number}: provisioned_at {provisioned_at} but active provisioning "
                  f"{'exists' if has else 'missing'}" for number, provisioned_at, has in cursor.fetchall()]
        cursor.execute(_TOP_UP_LEDGER_SQL)
        found += [f"top-up #{pk}: ledger due {due} / unbilled {unbilled}, expected -{expected} / {expected}"
                  for pk, due, unbilled, expected in cursor.fetchall()]
    found += money_in_mismatches()
    return found
