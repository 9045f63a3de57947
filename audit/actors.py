"""Who did it, and from where. Every write service takes an `actor=`; nothing reads it from a global."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field


class ActorKind:
    STAFF = "staff"
    CUSTOMER = "customer"
    SYSTEM = "system"
    STRIPE = "stripe"
    API = "api"
    ANONYMOUS = "anonymous"
    CHOICES = [
        (STAFF, "Staff"),
        (CUSTOMER, "Portal customer"),
        (SYSTEM, "System job"),
        (STRIPE, "Stripe"),
        (API, "API client"),
        (ANONYMOUS, "Anonymous"),
    ]


@dataclass(frozen=True)
class Actor:
    kind: str
    label: str
    user_id: int | None = None
    ip: str | None = None
    user_agent: str = ""
    request_id: str = field(default_factory=lambda: "")

    @classmethod
    def from_request(cls, request) -> Actor:
        """The signed-in user of a request (staff or portal customer), with its IP, agent and id."""
        user = getattr(request, "user", None)
        if user is not None and user.is_authenticated:
            kind = ActorKind.STAFF if user.is_staff else ActorKind.CUSTOMER
            label, user_id = user.get_username(), user.pk
        else:
            kind, label, user_id = ActorKind.ANONYMOUS, "anonymous", None
        return cls(
            kind=kind,
            label=label,
            user_id=user_id,
            ip=client_ip(request),
            user_agent=request.META.get("HTTP_USER_AGENT", "")[:400],
            request_id=getattr(request, "request_id", "") or "",
        )

    @classmethod
    def for_user(cls, user, request=None) -> Actor:
        if request is not None:
            base = cls.from_request(request)
            kind = ActorKind.STAFF if user.is_staff else ActorKind.CUSTOMER
            return cls(kind=kind, label=user.get_username(), user_id=user.pk, ip=base.ip,
                       user_agent=base.user_agent, request_id=base.request_id)
        kind = ActorKind.STAFF if user.is_staff else ActorKind.CUSTOMER
        return cls(kind=kind, label=user.get_username(), user_id=user.pk)

    @classmethod
    def system(cls, job: str) -> Actor:
        """A scheduled job or management command, e.g. Actor.system("auto-top-up")."""
        return cls(kind=ActorKind.SYSTEM, label=job, request_id=uuid.uuid4().hex)

    @classmethod
    def stripe(cls, event_id: str = "") -> Actor:
        return cls(kind=ActorKind.STRIPE, label="stripe", request_id=event_id)

    @classmethod
    def api(cls, client: str, client_id: int | None = None, request=None) -> Actor:
        """An API client (the telephony platform), by its token's name; with the request's IP and id."""
        if request is None:
            return cls(kind=ActorKind.API, label=client, user_id=client_id)
        base = cls.from_request(request)
        return cls(kind=ActorKind.API, label=client, user_id=client_id, ip=base.ip,
                   user_agent=base.user_agent, request_id=base.request_id)


def client_ip(request) -> str | None:
    return request.META.get("REMOTE_ADDR") or None
