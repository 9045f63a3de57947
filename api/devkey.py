"""The demo platform's API key in development (bin/run prints it with a curl line): derived from a fixed
development string, so it is known without a database. Never created in production (api.demo refuses), and
importable without Django set up (tooling/run.py prints it)."""

import hashlib

DEMO_CLIENT = "telephony-platform"
DEMO_API_KEY = "ld_test_" + hashlib.sha256(b"ledgerdesk development demo key: telephony-platform").hexdigest()[:43]
