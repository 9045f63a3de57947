"""A Celery worker for the billing-run bench (bench/jobs.py --billing-workers): the project's app, with the
invoice emails routed to a queue this worker does not consume, so the figure is the run's own (the emails are
queued per chunk as in production, and rendering their PDFs is other workers' job; the bench purges them).

    python -m bench.billing_worker --concurrency 2
"""

from __future__ import annotations

import sys

from config.celery import app

EMAIL_QUEUE = "bench-emails"


def main() -> None:
    app.conf.task_routes = {"invoices.tasks.email_invoices": {"queue": EMAIL_QUEUE}}
    app.worker_main(["worker", "--pool", "prefork", "--queues", "celery", "--loglevel", "WARNING",
                     "--without-gossip", "--without-mingle", "--without-heartbeat", "--prefetch-multiplier", "1",
                     *sys.argv[1:]])


if __name__ == "__main__":
    main()
