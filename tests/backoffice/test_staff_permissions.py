"""Staff permissions and roles are Django's own (ModelBackend), read on each request: a role given or taken
counts from the next request, and the layout names the user's roles."""

import pytest
from django.contrib.auth.models import Group
from django.db import connection
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
