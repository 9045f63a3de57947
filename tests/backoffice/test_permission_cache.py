"""backoffice.auth.CachedPermissionsBackend: a user's permissions are kept between requests, and any change to
roles or permissions (committed, by whatever means) is seen by the very next check, in every process.

Real PostgreSQL, committed transactions (the cache only serves reads outside a transaction); each "request"
is a fresh User instance, as AuthenticationMiddleware gives one per request."""

from __future__ import annotations

import threading

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group, Permission
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext

from backoffice import auth
from backoffice.roles import FINANCE, VIEWER, roles_ensure
from tests.factories import viewer_user

pytestmark = pytest.mark.django_db(transaction=True)
ADD_PAYMENT = "finance.add_payment"  # Finance may, Viewer may not
VIEW_PAYMENT = "finance.view_payment"  # both may


@pytest.fixture(autouse=True)
def _empty_cache():
    auth._cache.clear(), auth._roles.clear()
    yield
    auth._cache.clear(), auth._roles.clear()


def request_user(user):
    """The user as the next request sees it: a fresh instance, no per-request cache."""
    return get_user_model().objects.get(pk=user.pk)


def check(user, perm: str) -> tuple[bool, list[str]]:
    with CaptureQueriesContext(connection) as ctx:
        allowed = request_user(user).has_perm(perm)
    return allowed, [q["sql"] for q in ctx.captured_queries[1:]]  # [0] loads the user


def test_the_second_request_reads_only_the_version():
    user = viewer_user()
    allowed, first = check(user, VIEW_PAYMENT)
    assert allowed and len(first) == 3  # the version, then the user's and the groups' permissions
    allowed, second = check(user, VIEW_PAYMENT)
    assert allowed and second == [auth._VERSION_SQL]
    assert check(user, ADD_PAYMENT)[0] is False


def test_a_new_role_is_seen_by_the_next_request():
    user = viewer_user()
    assert check(user, ADD_PAYMENT)[0] is False
    user.groups.add(roles_ensure()[FINANCE])
    assert check(user, ADD_PAYMENT)[0] is True
    user.groups.clear()
    assert check(user, VIEW_PAYMENT)[0] is False


def test_a_permission_taken_from_a_group_by_raw_sql_is_seen():
    user = viewer_user()
    assert check(user, VIEW_PAYMENT)[0] is True
    permission = Permission.objects.get(codename="view_payment", content_type__app_label="finance")
    with connection.cursor() as cursor:
        cursor.execute("DELETE FROM auth_group_permissions WHERE group_id = %s AND permission_id = %s",
                       [Group.objects.get(name=VIEWER).pk, permission.pk])
    assert check(user, VIEW_PAYMENT)[0] is False


def test_a_direct_permission_is_seen():
    user = viewer_user()
    assert check(user, ADD_PAYMENT)[0] is False
    user.user_permissions.add(Permission.objects.get(codename="add_payment", content_type__app_label="finance"))
    assert check(user, ADD_PAYMENT)[0] is True


def test_a_change_committed_by_another_connection_is_seen():
    """Another process (here a thread with its own connection) grants the role; this one sees it next time."""
    user = viewer_user()
    assert check(user, ADD_PAYMENT)[0] is False

    def grant():
        try:
            get_user_model().objects.get(pk=user.pk).groups.add(Group.objects.get(name=FINANCE))
        finally:
            connection.close()

    thread = threading.Thread(target=grant)
    thread.start()
    thread.join(timeout=30)
    assert check(user, ADD_PAYMENT)[0] is True


def test_a_rolled_back_change_leaves_nothing_behind():
    user = viewer_user()
    assert check(user, ADD_PAYMENT)[0] is False
    version = auth.permissions_version()
    with transaction.atomic():
        request_user(user).groups.add(Group.objects.get(name=FINANCE))
        assert request_user(user).has_perm(ADD_PAYMENT)  # read inside the transaction: not cached
        transaction.set_rollback(True)
    assert auth.permissions_version() == version
    assert check(user, ADD_PAYMENT)[0] is False


def test_an_inactive_user_has_no_permission_even_when_cached():
    user = viewer_user()
    assert check(user, VIEW_PAYMENT)[0] is True
    get_user_model().objects.filter(pk=user.pk).update(is_active=False)
    assert check(user, VIEW_PAYMENT)[0] is False


def test_the_layout_roles_come_from_the_same_cache_and_follow_a_rename():
    user = viewer_user()
    fresh = request_user(user)
    fresh.has_perm(VIEW_PAYMENT)  # every back-office view checks a permission first: the version is read
    assert auth.role_names(fresh) == (VIEWER,)
    again = request_user(user)
    again.has_perm(VIEW_PAYMENT)
    with CaptureQueriesContext(connection) as ctx:
        assert auth.role_names(again) == (VIEWER,)
    assert not ctx.captured_queries
    Group.objects.filter(name=VIEWER).update(name="Read only")
    renamed = request_user(user)
    renamed.has_perm(VIEW_PAYMENT)
    assert auth.role_names(renamed) == ("Read only",)


def test_the_staff_layout_shows_the_roles(client):
    user = viewer_user()
    client.force_login(user, backend="backoffice.auth.CachedPermissionsBackend")
    for _ in range(2):  # the first request fills the cache, the second reads it
        page = client.get("/customers/").content.decode()
        assert f"<small>{VIEWER}</small>" in page


@pytest.mark.parametrize("table", ["auth_user_groups", "auth_user_user_permissions", "auth_group_permissions",
                                   "auth_group", "auth_permission", "django_content_type"])
def test_every_table_permissions_are_made_of_moves_the_version(table):
    before = auth.permissions_version()
    with connection.cursor() as cursor:
        cursor.execute(f"UPDATE {table} SET id = id WHERE false")  # noqa: S608 - the names above
    assert auth.permissions_version() == before + 1


def test_the_cache_does_not_grow_without_bound(monkeypatch):
    monkeypatch.setattr(auth, "MAX_CACHED_USERS", 2)
    users = [viewer_user() for _ in range(3)]
    for user in users:
        assert check(user, VIEW_PAYMENT)[0] is True
    assert len(auth._cache) <= 2 and users[-1].pk in auth._cache
    assert check(users[0], VIEW_PAYMENT)[0] is True  # an evicted user is simply read again
