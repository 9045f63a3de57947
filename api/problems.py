"""RFC 9457 problem details: every error of the API is `application/problem+json`
`{type, title, status, detail}` (validation adds `errors: [{field, message}]`).

`type` is a stable URI per kind of problem, `https://ledgerdesk.example/problems/<slug>`: clients switch on
it (or on the slug), never on `detail`, which is written for a finance user and may be reworded."""

from __future__ import annotations

import json

from django.http import HttpResponse

PROBLEM_BASE = "https://ledgerdesk.example/problems/"
CONTENT_TYPE = "application/problem+json"

# slug: (status, title)
TYPES: dict[str, tuple[int, str]] = {
    "malformed-request": (400, "Malformed request"),
    "idempotency-key-missing": (400, "Idempotency-Key header missing"),
    "unauthorized": (401, "Unauthorized"),
    "forbidden": (403, "Scope missing"),
    "not-found": (404, "Not found"),
    "method-not-allowed": (405, "Method not allowed"),
    "reservation-resolved": (409, "Reservation already resolved"),
    "reservation-expired": (409, "Reservation expired"),
    "idempotency-key-in-use": (409, "Idempotency-Key in use"),
    "payload-too-large": (413, "Payload too large"),
    "unsupported-media-type": (415, "Unsupported media type"),
    "validation-error": (422, "Validation error"),
    "insufficient-credits": (422, "Insufficient credits"),
    "idempotency-key-reused": (422, "Idempotency-Key reused"),
    "rejected": (422, "Request refused"),
    "rate-limited": (429, "Too many requests"),
    "internal-error": (500, "Internal error"),
}


class Problem(Exception):
    """Raised anywhere in the API; answered as its problem+json by api.v1's handlers."""

    def __init__(self, slug: str, detail: str, *, errors: list[dict] | None = None,
                 headers: dict[str, str] | None = None):
        assert slug in TYPES, slug
        super().__init__(detail)
        self.slug, self.detail, self.errors, self.headers = slug, detail, errors, headers or {}

    @property
    def status(self) -> int:
        return TYPES[self.slug][0]

    def body(self) -> dict:
        status, title = TYPES[self.slug]
        body = {"type": PROBLEM_BASE + self.slug, "title": title, "status": status, "detail": self.detail}
        if self.errors is not None:
            body["errors"] = self.errors
        return body


def problem_response(problem: Problem) -> HttpResponse:
    response = HttpResponse(json.dumps(problem.body()), status=problem.status, content_type=CONTENT_TYPE)
    for name, value in problem.headers.items():
        response[name] = value
    return response
