"""Staff permission checks without loading every permission on every request.

Django's ModelBackend reads a user's permissions (two join queries over groups, permissions and content
types) once per request. A back-office page checks permissions on every request, and the bench measured
that load at 1.5-2.5 ms of a 10-15 ms list page (bench/README.md). CachedPermissionsBackend keeps each
user's permission set in the process between requests and reads only the permissions version (one
primary-key lookup), which the database bumps in the same transaction as any change to roles or permissions
(backoffice migration 0001). A change is therefore seen by the very next request in every process.

Cached only when the request reads committed data (outside a transaction): a set read inside a transaction
could be one that transaction changes and then rolls back.
"""

from __future__ import annotations

from django.contrib.auth.backends import ModelBackend
from django.db import connection

# user id -> (permissions version, the user's "app_label.codename" permissions)
_cache: dict[int, tuple[int, frozenset[str]]] = {}
# user id -> (permissions version, the user's role names): the layout shows them on every page
_roles: dict[int, tuple[int, tuple[str, ...]]] = {}

_VERSION_SQL = "SELECT version FROM backoffice_permissionsversion WHERE id = 1"
# Staff are tens, but every signed-in user that checks a permission gets an entry: past this many the
# process starts again from empty rather than grow without bound.
MAX_CACHED_USERS = 10_000


def _kept(store: dict, user_id: int, version: int | None):
    """What `store` keeps for this user if it was read at this version, else None."""
    entry = store.get(user_id) if version is not None else None
    return entry[1] if entry is not None and entry[0] == version else None


def _keep(store: dict, user_id: int, version: int | None, value) -> None:
    """Keep a value read at this version, when it was read from committed data."""
    if version is None or connection.in_atomic_block:
        return
    if len(store) >= MAX_CACHED_USERS:
        store.clear()
    store[user_id] = (version, value)


def permissions_version() -> int | None:
    """The current version of the staff's permissions (None if the row is missing: nothing is cached)."""
    with connection.cursor() as cursor:
        cursor.execute(_VERSION_SQL)
        row = cursor.fetchone()
    return row[0] if row else None


class CachedPermissionsBackend(ModelBackend):
    """ModelBackend whose get_all_permissions is served from the process while the version holds."""

    def get_all_permissions(self, user_obj, obj=None):
        if not user_obj.is_active or user_obj.is_anonymous or obj is not None:
            return set()
        if hasattr(user_obj, "_perm_cache"):  # already read in this request
            return user_obj._perm_cache
        if connection.in_atomic_block:
            return super().get_all_permissions(user_obj)
        version = user_obj._perm_version = permissions_version()
        kept = _kept(_cache, user_obj.pk, version)
        if kept is not None:
            user_obj._perm_cache = set(kept)
            return user_obj._perm_cache
        perms = super().get_all_permissions(user_obj)
        _keep(_cache, user_obj.pk, version, frozenset(perms))
        return perms


def role_names(user) -> tuple[str, ...]:
    """The user's roles (group names, in name order), kept like the permissions: when this request has read
    the permissions version (every back-office view checks a permission first), no query while it holds."""
    if user.is_anonymous:
        return ()
    version = getattr(user, "_perm_version", None)
    names = _kept(_roles, user.pk, version)
    if names is None:
        names = tuple(user.groups.order_by("name").values_list("name", flat=True))
        _keep(_roles, user.pk, version, names)
    return names
