"""Who may see and do what in the back office. Roles are Django groups (backoffice.roles): Finance
(every action) and Viewer (read only). Every staff view is wrapped in `staff_view(perm)`."""

from __future__ import annotations

from functools import wraps

from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import PermissionDenied
from django.db import connection


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
            load_access(user)
            if perms and not user.has_perms(perms):
                raise PermissionDenied("Your role does not allow this.")
            return view(request, *args, **kwargs)

        wrapper.staff_perms = perms  # read by the test that checks every view is protected
        return wrapper

    return decorator


# The role names, then the user's own permissions, then those of their groups (django.contrib.auth's tables:
# the project uses its User model).
_ACCESS_SQL = """
    SELECT 'role', g.name, '' FROM auth_group g JOIN auth_user_groups ug ON ug.group_id = g.id
     WHERE ug.user_id = %(user)s
    UNION ALL
    SELECT 'user', ct.app_label, p.codename FROM auth_permission p JOIN django_content_type ct ON ct.id = p.content_type_id
      JOIN auth_user_user_permissions up ON up.permission_id = p.id
     WHERE up.user_id = %(user)s
    UNION ALL
    SELECT 'group', ct.app_label, p.codename FROM auth_permission p JOIN django_content_type ct ON ct.id = p.content_type_id
      JOIN auth_group_permissions gp ON gp.permission_id = p.id JOIN auth_user_groups ug ON ug.group_id = gp.group_id
     WHERE ug.user_id = %(user)s
    ORDER BY 1, 2"""


def load_access(user) -> None:
    """The staff user's role names (`user.staff_role_names`: group names, in name order) and permissions, read
    in one query instead of three: ModelBackend reads the user's own and their groups' permissions in one query
    each, the layout's role names (backoffice.context_processors.staff_roles) a third. The permissions fill
    ModelBackend's two caches on the user object with exactly what its own queries give, so has_perm and
    `perms` in templates answer as before (superusers: left to ModelBackend, which grants them everything).
    Every staff page made these three queries (bench/README.md, the reconcile inbox)."""
    if getattr(user, "staff_role_names", None) is not None:
        return
    with connection.cursor() as cursor:
        cursor.execute(_ACCESS_SQL, {"user": user.pk})
        rows = cursor.fetchall()
    if not user.is_superuser and not hasattr(user, "_user_perm_cache") and not hasattr(user, "_group_perm_cache"):
        user._user_perm_cache = {f"{app}.{code}" for kind, app, code in rows if kind == "user"}
        user._group_perm_cache = {f"{app}.{code}" for kind, app, code in rows if kind == "group"}
    user.staff_role_names = [name for kind, name, _ in rows if kind == "role"]
