#!/usr/bin/env bash
# Every bench of issue 9 from scratch: re-create the bench databases, generate the data at production scale,
# then run the benches in the order that keeps them independent. Each prints its table and keeps it in
# bench/results/<name>.md; all of them are gathered in bench/results/latest.md.
#
#   bench/run_all.sh                 # everything (about 35 minutes on 2 cores: the billing run, the pages about 15)
#   bench/run_all.sh --no-generate   # reuse the databases as they are
#
# BENCH_DATABASE_URL (default postgres://postgres@127.0.0.1:5432/ledgerdesk_bench) names the bench database;
# it is DROPPED and re-created: never point it at a database you want to keep.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=.venv/bin/python
export LEDGERDESK_ENV=test  # production settings, but the fake secrets may stand in (config/environment.py)
export BENCH_DATABASE_URL=${BENCH_DATABASE_URL:-postgres://postgres@127.0.0.1:5432/ledgerdesk_bench}
GENERATE=1
[[ "${1:-}" == "--no-generate" ]] && GENERATE=0

recreate() {  # recreate <database url>: drop and create the database, then migrate it
  $PY - "$1" <<'PYEOF'
import sys
from urllib.parse import urlparse
import psycopg
url = urlparse(sys.argv[1]); name = url.path.lstrip("/")
with psycopg.connect(url._replace(path="/postgres").geturl(), autocommit=True) as conn:
    conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    conn.execute(f'CREATE DATABASE "{name}"')
PYEOF
  DATABASE_URL="$1" DJANGO_SECRET_KEY=bench-only-secret-key $PY manage.py migrate -v0
}

if [[ $GENERATE == 1 ]]; then
  SMALL_URL=${BENCH_SMALL_DATABASE_URL:-${BENCH_DATABASE_URL%/*}/ledgerdesk_bench_small}
  echo "[bench] re-creating $BENCH_DATABASE_URL and $SMALL_URL"
  recreate "$BENCH_DATABASE_URL"
  recreate "$SMALL_URL"
  echo "[bench] generating the data (100k customers, 2M transactions, 300k invoices, 300k payments)"
  /usr/bin/time -f "[bench] bench.generate: %e s wall, %M KB max RSS" \
    $PY -m bench.generate 2>&1 | tee bench/results/generate.log
  BENCH_DATABASE_URL="$SMALL_URL" \
    $PY -m bench.generate --customers 1000 --transactions 20000 --invoices 3000 --payments 3000 >/dev/null
fi

$PY -m bench.check_ledger
$PY -m bench.bank_import  # before the pages bench: its reconcile inbox lists the imported lines
$PY -m bench.pages
$PY -m bench.jobs
$PY -m bench.ledger_posting
$PY -m bench.api_posting

{
  echo "# Latest results"
  echo
  for name in ledger_posting api_posting api_posting_profile pages jobs check_ledger bank_import; do cat "bench/results/$name.md"; echo; done
} > bench/results/latest.md
echo "[bench] all tables in bench/results/latest.md"
