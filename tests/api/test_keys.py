"""API keys: the services, the command, the staff page (list, CSV, create shown once, revoke) and its browser
journey, the demo key."""

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.utils import timezone

from api.devkey import DEMO_API_KEY
from api.keys import hash_key
from api.models import ApiKey
from api.services import ApiKeyError, api_key_create, api_key_revoke
from audit.models import AuditEvent
from tests.api.helpers import Api
from tests.customers.factories import SYSTEM, prepaid

pytestmark = pytest.mark.django_db


class TestServices:
    def test_create_keeps_only_the_hash_and_a_prefix(self):
        key, plain = api_key_create(name="telephony-platform", scopes=["usage:write"], actor=SYSTEM, at=timezone.now())
        assert plain.startswith("ld_test_") and len(plain) >= 50
        assert key.key_hash == hash_key(plain) and plain not in key.key_hash and key.prefix == plain[:12]
        event = AuditEvent.objects.get(action="settings.api_key.create")
        assert plain not in str(event.after) and event.after["scopes"] == ["usage:write"]

    @pytest.mark.parametrize(("name", "scopes"), [("", ["usage:write"]), ("Bad Name", ["usage:write"]),
                                                  ("ok", []), ("ok", ["admin"])])
    def test_refuses_bad_names_and_scopes(self, name, scopes):
        with pytest.raises(ApiKeyError):
            api_key_create(name=name, scopes=scopes, actor=SYSTEM, at=timezone.now())

    def test_revoke_once(self):
        key, plain = api_key_create(name="p", scopes=["customers:read"], actor=SYSTEM, at=timezone.now())
        prepaid(code="ACME")
        assert Api(plain).get("/customers/ACME").status_code == 200
        assert ApiKey.objects.get(pk=key.pk).last_used_at is not None
        api_key_revoke(key_id=key.pk, actor=SYSTEM, at=timezone.now())
        assert Api(plain).get("/customers/ACME").status_code == 401
        with pytest.raises(ApiKeyError, match="already revoked"):
            api_key_revoke(key_id=key.pk, actor=SYSTEM, at=timezone.now())


class TestCommand:
    def test_prints_the_key_once_with_its_scopes(self, capsys):
        call_command("api_key_create", "telephony-platform", "--scopes", "usage:write,customers:read")
        out = capsys.readouterr().out
        plain = out.strip().splitlines()[-1]
        key = ApiKey.objects.get(key_hash=hash_key(plain))
        assert key.name == "telephony-platform" and key.scopes == ["usage:write", "customers:read"]
        assert AuditEvent.objects.get(action="settings.api_key.create").actor_label == "api_key_create"

    def test_refuses_an_unknown_scope(self):
        with pytest.raises(CommandError, match="Unknown scope"):
            call_command("api_key_create", "p", "--scopes", "everything")


class TestStaffPage:
    def test_lists_searches_and_exports(self, finance_client):
        for name in ("telephony-platform", "billing-bridge"):
            api_key_create(name=name, scopes=["usage:write"], actor=SYSTEM, at=timezone.now())
        page = finance_client.get("/settings/api-keys/?q=telephony")
        assert page.status_code == 200 and b"telephony-platform" in page.content and b"billing-bridge" not in page.content
        csv = b"".join(finance_client.get("/settings/api-keys/?format=csv").streaming_content).decode()
        assert csv.count("\n") == 3 and "telephony-platform" in csv

    def test_create_shows_the_key_once(self, finance_client):
        r = finance_client.post("/settings/api-keys/new/", {"name": "telephony-platform", "scopes": ["usage:write"]})
        assert r.status_code == 200
        key = ApiKey.objects.get()
        plain = r.context["plain"]
        assert key.key_hash == hash_key(plain) and plain.encode() in r.content
        assert plain.encode() not in finance_client.get("/settings/api-keys/").content

    def test_revoke(self, finance_client):
        key, _ = api_key_create(name="p", scopes=["usage:write"], actor=SYSTEM, at=timezone.now())
        finance_client.post(f"/settings/api-keys/{key.pk}/revoke/")
        assert ApiKey.objects.get(pk=key.pk).revoked_at is not None

    def test_viewers_see_but_cannot_create_or_revoke(self, viewer_client):
        key, _ = api_key_create(name="p", scopes=["usage:write"], actor=SYSTEM, at=timezone.now())
        assert viewer_client.get("/settings/api-keys/").status_code == 200
        assert viewer_client.post("/settings/api-keys/new/", {"name": "x", "scopes": ["usage:write"]}).status_code == 403
        assert viewer_client.post(f"/settings/api-keys/{key.pk}/revoke/").status_code == 403
        assert ApiKey.objects.get(pk=key.pk).revoked_at is None


def test_the_demo_key_is_seeded_in_development_only(settings):
    from api import demo

    settings.LEDGERDESK_ENV = "production"
    demo.seed(stdout=None)
    assert not ApiKey.objects.exists()
    settings.LEDGERDESK_ENV = "development"
    demo.seed(stdout=None)
    demo.seed(stdout=None)
    assert ApiKey.objects.get().key_hash == hash_key(DEMO_API_KEY)


@pytest.mark.browser
def test_a_staff_user_creates_a_key_sees_it_once_and_revokes_it(staff_page, live_server):
    page = staff_page
    page.goto(f"{live_server.url}/settings/api-keys/")
    page.get_by_role("link", name="+ New API key").click()
    page.fill("input[name=name]", "telephony-platform")
    page.get_by_role("button", name="Create key").click()
    plain = page.locator("#api-key-value").inner_text()
    assert plain.startswith("ld_test_")
    page.get_by_role("link", name="Done").click()
    assert plain not in page.content()
    page.once("dialog", lambda dialog: dialog.accept())
    page.get_by_role("button", name="Revoke").click()
    page.wait_for_selector("span.badge-void")
    assert ApiKey.objects.get().revoked_at is not None


@pytest.mark.browser
def test_the_docs_page_renders_offline_with_no_csp_violation(page, live_server):
    messages = []
    page.on("console", lambda m: messages.append(m.text))
    requests = []
    page.on("request", lambda r: requests.append(r.url))
    page.goto(f"{live_server.url}/api/v1/docs")
    page.wait_for_selector("text=Ledgerdesk usage API")
    page.wait_for_selector(".opblock-summary-path")
    paths = page.locator(".opblock-summary-path").all_inner_texts()
    assert len(paths) == 8 and any("/customers/{code}/reservations" in p.replace("\u200b", "") for p in paths), paths
    assert not [m for m in messages if "Content Security Policy" in m or "Refused" in m], messages
    assert all(u.startswith(live_server.url) or u.startswith("data:") for u in requests), requests
