"""``python -m fakestripe``: run the fake beside a dev server until Ctrl-C."""

from __future__ import annotations

import argparse
import logging
import sys

from .server import FakeStripe


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m fakestripe", description=__doc__)
    parser.add_argument("--port", type=int, default=12111, help="port on 127.0.0.1 (0: any free port)")
    parser.add_argument("--webhook-url", default=None, help="where to POST signed events (default: none)")
    parser.add_argument("--webhook-secret", default="whsec_test", help="endpoint signing secret")
    parser.add_argument("--public-url", default=None, help="base url of hosted checkout links")
    parser.add_argument("--no-auto-deliver", action="store_true", help="record events without posting them")
    parser.add_argument("--quiet", action="store_true", help="do not log each request")
    args = parser.parse_args(argv)

    logging.basicConfig(level=logging.INFO, format="%(asctime)s fakestripe %(message)s")
    server = FakeStripe(
        webhook_url=args.webhook_url,
        webhook_secret=args.webhook_secret,
        public_url=args.public_url,
        port=args.port,
        auto_deliver=not args.no_auto_deliver,
        log_requests=not args.quiet,
    ).start()
    print(
        f"fakestripe listening on {server.url}  (StripeClient base_addresses={{'api': '{server.url}'}})",
        file=sys.stderr,
        flush=True,
    )
    if args.webhook_url:
        print(
            f"webhooks -> {args.webhook_url} signed with {args.webhook_secret}", file=sys.stderr, flush=True
        )
    server.serve_forever()
    return 0


if __name__ == "__main__":
    sys.exit(main())
