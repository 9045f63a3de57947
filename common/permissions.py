"""Who may see and do what in the back office. Roles are Django groups (backoffice.roles): Finance
(every action) and Viewer (read only). Every staff view is wrapped in `staff_view(perm)`."""

from __future__ import annotations

from functools import wraps

from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import PermissionDenied


def staff_view(*perms: str):
    """Signed-in staff holding every permission in `perms` (403 otherwise; sign-in page when anonymous).
    Portal customers are never staff, so they get a 403 on every back-office URL."""

    def decorator(view):
        @wraps(view)
        def wrapper(request, *args, **kwargs):
            user = request.user
            if not user.is_authenticated:
                return redirect_to_login(request.get_full_path())
            if not user.is_staff or not user.is_active:
                raise PermissionDenied("The back office is for staff.")
            if perms and not user.has_perms(perms):
                raise PermissionDenied("Your role does not allow this.")
            return view(request, *args, **kwargs)

        wrapper.staff_perms = perms  # read by the test that checks every view is protected
        return wrapper

    return decorator
