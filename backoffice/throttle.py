"""Sign-in throttling with one limit per lockout parameter (django-axes has one AXES_FAILURE_LIMIT for all).

settings.AXES_LOCKOUT_PARAMETERS is `[["username", "ip_address"], "ip_address"]`: one username tried from one
address is locked out after AXES_FAILURE_LIMIT failures, and one address, whatever usernames it tries, after
the higher AXES_IP_FAILURE_LIMIT. Axes compares the largest count of failures across the parameters with its
single limit; this handler scales each parameter's count to that limit, so that the comparison holds exactly
when some parameter has reached its own limit (floor(n * base / limit) >= base  <=>  n >= limit). Staff and
portal sign-in both authenticate through axes (settings.AUTHENTICATION_BACKENDS), so both are covered."""

from __future__ import annotations

from axes.handlers.database import AxesDatabaseHandler
from axes.helpers import get_failure_limit, get_lockout_parameters
from django.conf import settings
from django.db.models import Sum


def parameter_limit(parameter, base: int) -> int:
    """The failure limit of one lockout parameter (a name or a list of names)."""
    names = [parameter] if isinstance(parameter, str) else list(parameter)
    return settings.AXES_IP_FAILURE_LIMIT if names == ["ip_address"] else base


class PerParameterLimitsHandler(AxesDatabaseHandler):
    def get_failures(self, request, credentials=None) -> int:
        base = get_failure_limit(request, credentials)
        parameters = get_lockout_parameters(request, credentials)
        counts = [attempts.aggregate(n=Sum("failures_since_start"))["n"] or 0
                  for attempts in self.get_user_attempts(request, credentials)]
        return max((count * base // parameter_limit(parameter, base)
                    for parameter, count in zip(parameters, counts, strict=True)), default=0)

    def reset_user_attempts(self, request, credentials=None) -> int:
        """A successful sign-in clears that username's failures from that address, not the address's failures
        with other usernames (else one valid account would reset the per-IP count for an attacker)."""
        parameters = get_lockout_parameters(request, credentials)
        count = 0
        for parameter, attempts in zip(parameters, self.filter_user_attempts(request, credentials), strict=True):
            if "username" in ([parameter] if isinstance(parameter, str) else parameter):
                count += attempts.delete()[0]
        return count
