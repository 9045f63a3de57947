"""Staff permissions and roles are Django's own (ModelBackend), read on each request: a role given or taken
counts from the next request, and the layout names the user's roles."""

import pytest
from django.contrib.auth.models import Group
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from backoffice.roles import FINANCE, VIEWER, roles_ensure
from tests.factories import viewer_user

pytestmark = pytest.mark.django_db


def test_a_role_given_or_taken_counts_from_the_next_request(client):
    user = viewer_user()
    client.force_login(user, backend="django.contrib.auth.backends.ModelBackend")
    create = reverse("finance:payment-create")
    assert client.get(create).status_code == 403
    user.groups.add(roles_ensure()[FINANCE])
    assert client.get(create).status_code == 200
    user.groups.remove(Group.objects.get(name=FINANCE))
    assert client.get(create).status_code == 403


def test_the_staff_layout_names_the_roles_in_order(client):
    user = viewer_user()
    client.force_login(user, backend="django.contrib.auth.backends.ModelBackend")
    assert f"<small>{VIEWER}</small>" in client.get(reverse("customers:list")).content.decode()
    user.groups.add(roles_ensure()[FINANCE])
    assert f"<small>{FINANCE}, {VIEWER}</small>" in client.get(reverse("customers:list")).content.decode()


def test_no_trigger_or_table_is_left_on_djangos_auth_tables():
    """backoffice migration 0003 dropped the permissions version the former per-process cache read."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT tgrelid::regclass::text FROM pg_trigger WHERE tgname = 'backoffice_permissions_changed'")
        assert cursor.fetchall() == []
        cursor.execute("SELECT to_regclass('backoffice_permissionsversion'), "
                       "to_regprocedure('backoffice_permissions_changed()')")
        assert cursor.fetchone() == (None, None)


def test_the_roles_and_permissions_are_read_once_as_modelbackend_gives_them():
    """common.permissions.load_access: one query gives what ModelBackend's two permission queries and the layout's
    roles query gave (a permission of the user's own and the groups' permissions, the role names in order)."""
    from django.contrib.auth import get_user_model
    from django.contrib.auth.backends import ModelBackend
    from django.contrib.auth.models import Permission

    from common.permissions import load_access

    user = viewer_user()
    user.groups.add(roles_ensure()[FINANCE])
    user.user_permissions.add(Permission.objects.get(codename="view_auditevent", content_type__app_label="audit"))
    fresh = get_user_model().objects.get(pk=user.pk)
    backend = ModelBackend()
    expected = (backend.get_user_permissions(fresh), backend.get_group_permissions(fresh))
    assert expected[0] == {"audit.view_auditevent"} and expected[1]

    loaded = get_user_model().objects.get(pk=user.pk)
    with CaptureQueriesContext(connection) as ctx:
        load_access(loaded)
        assert (backend.get_user_permissions(loaded), backend.get_group_permissions(loaded)) == expected
        assert loaded.get_all_permissions() == expected[0] | expected[1]
        assert loaded.has_perm("finance.add_payment") and not loaded.has_perm("auth.add_user")
        assert loaded.staff_role_names == [FINANCE, VIEWER]
    assert len(ctx.captured_queries) == 1


def test_a_staff_page_reads_the_roles_and_permissions_in_one_query(client):
    user = viewer_user()
    client.force_login(user, backend="django.contrib.auth.backends.ModelBackend")
    url = reverse("customers:list")
    client.get(url)
    with CaptureQueriesContext(connection) as ctx:
        html = client.get(url).content.decode()
    assert f"<small>{VIEWER}</small>" in html
    auth = [q["sql"] for q in ctx.captured_queries if "auth_permission" in q["sql"] or "auth_group" in q["sql"]]
    assert len(auth) == 1, auth
