"""Stripe's error envelope: ``{"error": {"type", "code", "message", "param", ...}}`` with its status codes."""

from __future__ import annotations

from typing import Any

DOCS_URL = "https://stripe.com/docs/error-codes"


class StripeError(Exception):
    """An API error, rendered exactly like Stripe renders one.

    Stripe signals errors with an HTTP status (400 invalid request, 401 authentication, 402 card error,
    404 missing resource or route) and a JSON body whose ``error`` object carries ``type``, ``code``,
    ``message``, ``param`` and, for card errors, ``decline_code``, ``charge`` and ``payment_intent``.
    The official SDK picks its exception class from the status and ``type``.
    """

    def __init__(
        self,
        status: int,
        message: str,
        *,
        type: str = "invalid_request_error",
        code: str | None = None,
        param: str | None = None,
        **extra: Any,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.type = type
        self.code = code
        self.param = param
        self.extra = extra

    def body(self) -> dict[str, Any]:
        """The JSON body Stripe returns for this error (keys absent when Stripe would omit them)."""
        error: dict[str, Any] = {"type": self.type, "message": self.message}
        if self.code is not None:
            error["code"] = self.code
            error["doc_url"] = f"{DOCS_URL}/{self.code.replace('_', '-')}"
        if self.param is not None:
            error["param"] = self.param
        error.update(self.extra)
        return {"error": error}


def parameter_missing(param: str) -> StripeError:
    """Stripe's 400 for an absent required parameter."""
    return StripeError(400, f"Missing required param: {param}.", code="parameter_missing", param=param)


def parameter_unknown(param: str) -> StripeError:
    """Stripe's 400 for a parameter the endpoint does not accept (typos fail loudly, as in Stripe)."""
    return StripeError(400, f"Received unknown parameter: {param}", code="parameter_unknown", param=param)


def parameter_invalid(param: str, message: str, code: str | None = None) -> StripeError:
    """Stripe's 400 for a parameter with a value of the wrong kind."""
    return StripeError(400, message, code=code, param=param)


def no_such(kind: str, object_id: str, *, param: str = "id", status: int = 404) -> StripeError:
    """Stripe's ``resource_missing``: 404 for the id in the URL, 400 for an id given as a parameter."""
    return StripeError(status, f"No such {kind}: '{object_id}'", code="resource_missing", param=param)


def unrecognized_url(method: str, path: str) -> StripeError:
    """Stripe's 404 for a route it does not know."""
    return StripeError(
        404,
        f"Unrecognized request URL ({method}: {path}). Please see https://stripe.com/docs "
        "or we can help at https://support.stripe.com/.",
    )


def idempotency_mismatch(key: str) -> StripeError:
    """Stripe's 400 when an Idempotency-Key is reused for a different request."""
    return StripeError(
        400,
        f"Keys for idempotent requests can only be used with the same parameters they were first used "
        f"with. Try using a key other than '{key}' if you meant to execute a different request.",
        type="idempotency_error",
    )
