"""Who may use the portal: customers sign in, out and reset their password here; staff cannot use it and
customers cannot reach staff pages or the Django admin."""

from __future__ import annotations

import re

import pytest
from django.core import mail
from django.urls import reverse

from audit.models import AuditEvent
from tests.factories import PASSWORD, UserFactory

pytestmark = pytest.mark.django_db

PORTAL_PAGES = ["portal:home", "portal:invoice-list", "portal:top-up", "portal:transactions",
                "portal:notifications", "portal:audit"]


class TestPortalSignIn:
    def test_anonymous_is_sent_to_the_portal_sign_in(self, client):
        response = client.get(reverse("portal:invoice-list"))
        assert response.status_code == 302
        assert response["Location"] == f"{reverse('portal:login')}?next={reverse('portal:invoice-list')}"

    def test_a_customer_signs_in_and_it_is_audited_in_their_own_trail(self, client, acme, acme_user):
        response = client.post(reverse("portal:login"), {"username": "acme-portal", "password": PASSWORD})
        assert response.status_code == 302 and response["Location"] == reverse("portal:home")
        event = AuditEvent.objects.get(action="access.sign_in")
        assert (event.actor_kind, event.actor_label, event.customer_id) == ("customer", "acme-portal", acme.pk)
        assert client.get(reverse("portal:home")).status_code == 200

    def test_next_goes_back_to_the_portal_page_asked_for_but_never_elsewhere(self, client, acme_user):
        response = client.post(reverse("portal:login"), {"username": "acme-portal", "password": PASSWORD,
                                                         "next": reverse("portal:transactions")})
        assert response["Location"] == reverse("portal:transactions")
        client.logout()
        response = client.post(reverse("portal:login"), {"username": "acme-portal", "password": PASSWORD,
                                                         "next": "https://evil.example/"})
        assert response["Location"] == reverse("portal:home")

    def test_a_wrong_password_is_refused_with_a_message_and_audited(self, client, acme_user):
        response = client.post(reverse("portal:login"), {"username": "acme-portal", "password": "nope"})
        assert response.status_code == 200
        assert "Please enter a correct username and password" in response.content.decode()
        assert AuditEvent.objects.filter(action="access.sign_in_failed", actor_label="acme-portal").count() == 1
        assert "_auth_user_id" not in client.session

    def test_staff_cannot_sign_in_to_the_portal(self, client, finance_user):
        response = client.post(reverse("portal:login"), {"username": "finance", "password": PASSWORD})
        assert response.status_code == 200
        assert "This sign-in is for customers" in response.content.decode()
        assert "_auth_user_id" not in client.session

    def test_a_user_of_no_customer_cannot_sign_in(self, client):
        UserFactory(username="loner")
        response = client.post(reverse("portal:login"), {"username": "loner", "password": PASSWORD})
        assert "does not belong to a customer" in response.content.decode()
        assert "_auth_user_id" not in client.session

    def test_sign_out_is_audited_and_ends_the_session(self, portal_client, acme):
        response = portal_client.post(reverse("portal:logout"))
        assert response.status_code == 302 and response["Location"] == reverse("portal:login")
        assert AuditEvent.objects.filter(action="access.sign_out", actor_label="acme-portal",
                                         customer_id=acme.pk).exists()
        assert portal_client.get(reverse("portal:home")).status_code == 302

    def test_sign_out_needs_a_post(self, portal_client):
        assert portal_client.get(reverse("portal:logout")).status_code == 405

    def test_failed_sign_ins_are_throttled(self, client, acme_user, settings):
        for _ in range(settings.AXES_FAILURE_LIMIT):
            client.post(reverse("portal:login"), {"username": "acme-portal", "password": "wrong"})
        response = client.post(reverse("portal:login"), {"username": "acme-portal", "password": PASSWORD})
        assert response.status_code == 429
        assert "_auth_user_id" not in client.session


class TestSeparation:
    @pytest.mark.parametrize("name", PORTAL_PAGES)
    def test_staff_get_403_on_every_portal_page(self, finance_client, name):
        response = finance_client.get(reverse(name))
        assert response.status_code == 403
        assert "Staff use the" in response.content.decode()

    @pytest.mark.parametrize("name", PORTAL_PAGES)
    def test_a_signed_in_customer_sees_every_portal_page(self, portal_client, name):
        assert portal_client.get(reverse(name)).status_code == 200

    def test_customers_get_403_on_staff_pages(self, portal_client):
        assert portal_client.get(reverse("dashboard")).status_code == 403

    def test_customers_cannot_reach_the_admin(self, portal_client):
        response = portal_client.get("/admin/")
        assert response.status_code == 302 and "/admin/login/" in response["Location"]
        response = portal_client.get("/admin/auth/user/")
        assert response.status_code == 302

    def test_every_portal_view_is_protected(self):
        from django.urls import get_resolver

        open_views = {"sign_in", "sign_out", "PasswordResetView", "PasswordResetDoneView",
                      "PasswordResetConfirmView", "PasswordResetCompleteView"}
        resolver = get_resolver()
        portal = resolver.namespace_dict["portal"][1]
        for pattern in portal.url_patterns:
            view = pattern.callback
            name = getattr(view, "view_class", view).__name__
            assert getattr(view, "portal_view", False) or name in open_views, pattern.name


class TestPasswordReset:
    def _reset_link(self) -> str:
        (message,) = mail.outbox
        match = re.search(r"https?://[^/]+(/portal/reset/[^/\s]+/[^/\s]+/)", message.body)
        assert match, message.body
        return match.group(1)

    def test_a_customer_resets_the_password_through_the_emailed_link(self, client, acme_user):
        response = client.post(reverse("portal:password-reset"), {"email": "acme-portal@example.com"})
        assert response.status_code == 302 and response["Location"] == reverse("portal:password-reset-done")
        assert mail.outbox[0].to == ["acme-portal@example.com"]
        link = self._reset_link()
        response = client.get(link, follow=True)
        form_url = response.redirect_chain[-1][0]
        response = client.post(form_url, {"new_password1": "a-new-long-passphrase",
                                          "new_password2": "a-new-long-passphrase"})
        assert response.status_code == 302 and response["Location"] == reverse("portal:password-reset-complete")
        acme_user.refresh_from_db()
        assert acme_user.check_password("a-new-long-passphrase")
        response = client.post(reverse("portal:login"), {"username": "acme-portal",
                                                         "password": "a-new-long-passphrase"})
        assert response.status_code == 302

    def test_a_link_works_once(self, client, acme_user):
        client.post(reverse("portal:password-reset"), {"email": "acme-portal@example.com"})
        link = self._reset_link()
        form_url = client.get(link, follow=True).redirect_chain[-1][0]
        client.post(form_url, {"new_password1": "a-new-long-passphrase", "new_password2": "a-new-long-passphrase"})
        response = client.get(link, follow=True)
        assert "This link no longer works" in response.content.decode()

    def test_staff_addresses_get_no_portal_reset_email_and_the_page_says_the_same(self, client, finance_user):
        response = client.post(reverse("portal:password-reset"), {"email": finance_user.email})
        assert response.status_code == 302
        assert mail.outbox == []

    def test_an_unknown_address_gets_no_email(self, client, acme_user):
        response = client.post(reverse("portal:password-reset"), {"email": "nobody@example.com"})
        assert response.status_code == 302
        assert mail.outbox == []
