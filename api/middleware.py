"""The API's edge, before anything reads the body: `/api/` requests over their size limit get 413, and every
error reply under `/api/` that is not already a problem (Django's 404 for an unknown path, django-ninja's 405,
the NUL-byte 400 page of common.middleware, a 500) becomes `application/problem+json`.

Body limits (settings): LEDGERDESK_API_MAX_BODY_BYTES for every endpoint, LEDGERDESK_API_MAX_BATCH_BODY_BYTES
for charge batches (10,000 lines). A batch may be larger than Django's DATA_UPLOAD_MAX_MEMORY_SIZE (which
guards the staff forms), so its body, once within its own limit, is read here."""

from __future__ import annotations

from django.conf import settings

from .problems import CONTENT_TYPE, TYPES, Problem, problem_response

PREFIX = "/api/"
_DETAILS = {
    400: ("malformed-request", "The request is malformed (a NUL character in the address, a query or a header?)."),
    404: ("not-found", "There is no such endpoint. The endpoints are listed at /api/v1/docs."),
    405: ("method-not-allowed", "This endpoint does not take that method. See /api/v1/docs."),
    413: ("payload-too-large", "The body is too large."),
    415: ("unsupported-media-type", "Send the body as application/json."),
    500: ("internal-error", "Something went wrong on our side; nothing was changed."),
}


def body_limit(path: str) -> int:
    if path.endswith("/charge-batches"):
        return settings.LEDGERDESK_API_MAX_BATCH_BODY_BYTES
    return settings.LEDGERDESK_API_MAX_BODY_BYTES


class ApiEdgeMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if not request.path.startswith(PREFIX):
            return self.get_response(request)
        refused = self._refuse_body(request)
        if refused is not None:
            return refused
        response = self.get_response(request)
        if response.status_code >= 400 and not response.get("Content-Type", "").startswith(CONTENT_TYPE):
            slug, detail = _DETAILS.get(response.status_code, _DETAILS[500] if response.status_code >= 500
                                        else ("rejected", "The request was refused."))
            if TYPES[slug][0] != response.status_code:
                slug = "internal-error" if response.status_code >= 500 else "rejected"
            problem = Problem(slug, detail)
            replaced = problem_response(problem)
            if response.status_code == 405 and response.has_header("Allow"):
                replaced["Allow"] = response["Allow"]
            return replaced
        return response

    def _refuse_body(self, request):
        if request.method in ("GET", "HEAD", "OPTIONS"):
            return None
        raw = request.META.get("CONTENT_LENGTH") or "0"
        try:
            length = int(raw)
        except ValueError:
            return problem_response(Problem("malformed-request", "The Content-Length header is not a number."))
        limit = body_limit(request.path)
        if length > limit:
            return problem_response(Problem("payload-too-large", f"The body has {length:,} bytes; this endpoint "
                                                                 f"takes at most {limit:,}."))
        if length > settings.DATA_UPLOAD_MAX_MEMORY_SIZE:
            # Within the endpoint's own limit: read it now, so Django's smaller form limit does not refuse it.
            request._body = request.read()  # noqa: SLF001 - HttpRequest.body returns _body once set
        return None
