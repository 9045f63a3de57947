-- Today's aged receivables, one row per customer in the report, kept by REFRESH MATERIALIZED VIEW
-- (finance.services.aged_receivables.aged_receivables_refresh: Celery beat every 5 minutes, and the page's
-- Refresh button). Read by finance.selectors.aged_receivables for the day it was refreshed on; any other day
-- is rebuilt from the rows (aged_receivables_history).
--
-- Why a cache (measured at 100,000 customers, 300,000 invoices, bench/README.md "Aged receivables without
-- trigger-kept tables"; in process, median of 9, on the shared 2-core machine under load): the same figures
-- computed on each request from the open receivable invoices and the payments with cash left (the plain
-- set-based query: ~12,000 invoices grouped per customer, ~10,800 customers joined and sorted by name, whatever
-- page is asked for) take 149 ms for the first page and 182 ms for the last; from this view 1.0 and 2.3 ms (the
-- trigger-kept tables it replaces: 12 and 85 ms, and a trigger on every invoice, payment and customer write).
-- A page is its 25 rows by their numbers plus the totals' rows; a search 45 ms (was 139). A refresh: ~1 s.
--
-- What keeps it correct: nothing between refreshes; the page says "as of HH:MM" (refreshed_at) and offers a
-- refresh. The refresh runs with the session's TimeZone set to the operator's (settings.TIME_ZONE), so
-- CURRENT_DATE is the operator's today: the view holds that day (as_of), buckets by days past due then.
-- The figures are aged_receivables_history's for that day (tests/finance/test_aged_receivables_paths.py): an
-- open receivable invoice (invoices.models.OPEN_RECEIVABLE, the column open_receivable) owes its total less its
-- cached amount paid and credited, counted when issued by the day; a payment has cash left exactly when its
-- status says so. Credits: the customer's credit balance (finance.selectors.CreditPosition) at the refresh.
-- Besides a row per customer (id > 0) it holds the totals per currency (ids below 0) and the refresh's own row
-- (id 0, no customer has it), so an empty report still says when and for which day it was made.
DROP MATERIALIZED VIEW IF EXISTS finance_agedreceivable;
CREATE MATERIALIZED VIEW finance_agedreceivable AS
WITH inv AS (
    SELECT customer_id, SUM(owed) AS open_all, COUNT(bucket) AS counted,
           COALESCE(SUM(owed) FILTER (WHERE bucket = 0), 0) AS b0, COALESCE(SUM(owed) FILTER (WHERE bucket = 1), 0) AS b1,
           COALESCE(SUM(owed) FILTER (WHERE bucket = 2), 0) AS b2, COALESCE(SUM(owed) FILTER (WHERE bucket = 3), 0) AS b3,
           COALESCE(SUM(owed) FILTER (WHERE bucket = 4), 0) AS b4
      FROM (SELECT customer_id, total - amount_paid - amount_credited AS owed,
                   CASE WHEN issue_date > CURRENT_DATE OR total - amount_paid - amount_credited <= 0 THEN NULL
                        WHEN due_date >= CURRENT_DATE THEN 0 WHEN due_date >= CURRENT_DATE - 30 THEN 1
                        WHEN due_date >= CURRENT_DATE - 60 THEN 2 WHEN due_date >= CURRENT_DATE - 90 THEN 3
                        ELSE 4 END AS bucket
              FROM invoices_invoice
             WHERE open_receivable) owed
     GROUP BY customer_id
), cash AS (
    SELECT customer_id, SUM(amount - amount_allocated - amount_topped_up) AS cash_all,
           COALESCE(SUM(amount - amount_allocated - amount_topped_up) FILTER (WHERE received_date <= CURRENT_DATE),
                    0) AS cash
      FROM finance_payment
     WHERE status IN ('unallocated', 'partially_allocated')
     GROUP BY customer_id
), listed AS (
    SELECT c.id AS customer_id, c.name, c.code, c.currency, lower(c.name) COLLATE "C" AS sort_name,
           COALESCE(inv.b0, 0) AS current, COALESCE(inv.b1, 0) AS d1_30, COALESCE(inv.b2, 0) AS d31_60,
           COALESCE(inv.b3, 0) AS d61_90, COALESCE(inv.b4, 0) AS d90_plus, COALESCE(cash.cash, 0) AS unallocated_cash,
           c.amount_unbilled + c.amount_due - c.amount_reserved + COALESCE(inv.open_all, 0)
             - COALESCE(cash.cash_all, 0) AS credits
      FROM inv FULL JOIN cash ON cash.customer_id = inv.customer_id
      JOIN customers_customer c ON c.id = COALESCE(inv.customer_id, cash.customer_id)
     WHERE inv.counted > 0 OR cash.cash > 0
)
-- the customers, numbered in the report's order (name, case-insensitive, in byte order; then id) over all of
-- them and within their currency, so any page is read by its numbers
SELECT customer_id, name, code, currency, sort_name,
       row_number() OVER (ORDER BY sort_name, customer_id) AS position,
       row_number() OVER (PARTITION BY currency ORDER BY sort_name, customer_id) AS currency_position,
       current, d1_30, d31_60, d61_90, d90_plus, unallocated_cash, credits, 1::bigint AS customers,
       NULL::date AS as_of, NULL::timestamptz AS refreshed_at
  FROM listed
UNION ALL  -- the totals per currency (customer id -1, -2, ...), `customers` counting its customers
SELECT -row_number() OVER (ORDER BY currency), NULL, NULL, currency, NULL, NULL, NULL, SUM(current), SUM(d1_30),
       SUM(d31_60), SUM(d61_90), SUM(d90_plus), SUM(unallocated_cash), SUM(credits), COUNT(*), NULL, NULL
  FROM listed GROUP BY currency
UNION ALL  -- the refresh itself (customer id 0): for which day, and when
SELECT 0, NULL, NULL, NULL, NULL, NULL, NULL, 0, 0, 0, 0, 0, 0, 0, 0, CURRENT_DATE, now()
WITH NO DATA;  -- filled by the first refresh: until then (and on any other day) the report rebuilds from the rows

-- REFRESH ... CONCURRENTLY (readers are not blocked) needs a unique index on plain columns
CREATE UNIQUE INDEX finance_agedreceivable_customer ON finance_agedreceivable (customer_id);
-- a page: 25 rows by their numbers; a search: in name order
CREATE INDEX finance_agedreceivable_position ON finance_agedreceivable (position);
CREATE INDEX finance_agedreceivable_currency_position ON finance_agedreceivable (currency, currency_position);
CREATE INDEX finance_agedreceivable_order ON finance_agedreceivable (sort_name, customer_id);
