"""Staff pages: thin views over the services and selectors, refusals shown on the page, constant queries."""

import csv
import datetime as dt
import io
from decimal import Decimal

import pytest
from django.urls import reverse
from django.utils import timezone

from audit.models import AuditEvent
from customers.models import (
    AccountType,
    Customer,
    CustomerUser,
    InvoiceSetup,
    MasterWallet,
    Reservation,
    ReservationStatus,
    Transaction,
    TransactionKind,
)
from customers.services import notification_record, reservation_release, reservation_reserve
from tests.customers.factories import (
    NOW,
    SYSTEM,
    SubscriptionFactory,
    funded_wallet,
    ledger_post,
    postpaid,
    prepaid,
    top_up,
)

pytestmark = pytest.mark.django_db
D = Decimal


@pytest.fixture
def viewer(viewer_user):
    """A second client, signed in as a Viewer (finance_client and viewer_client share one client)."""
    from django.test import Client

    client = Client()
    client.force_login(viewer_user, backend="django.contrib.auth.backends.ModelBackend")
    return client


def csv_rows(response):
    return list(csv.reader(io.StringIO(b"".join(response.streaming_content).decode())))


class TestCustomerList:
    def test_search_by_name_or_code_and_filter(self, finance_client):
        postpaid("100", name="Acme Pte Ltd", code="ACME", invoice_setup=InvoiceSetup.CONSOLIDATED)
        prepaid(name="Globex", code="GLOBEX")
        url = reverse("customers:list")
        assert [c.code for c in finance_client.get(url, {"q": "acm"}).context["page"]] == ["ACME"]
        assert [c.code for c in finance_client.get(url, {"q": "globex"}).context["page"]] == ["GLOBEX"]
        assert [c.code for c in finance_client.get(url, {"account_type": "prepaid"}).context["page"]] == ["GLOBEX"]
        assert [c.code for c in finance_client.get(url, {"invoice_setup": "consolidated"}).context["page"]] == ["ACME"]
        assert finance_client.get(url, {"q": "nobody"}).content.decode().count("No customers match") == 1

    def test_paginates_with_a_constant_number_of_queries(self, finance_client, django_assert_max_num_queries):
        for i in range(60):
            customer = postpaid("100", code=f"P{i:03d}", name=f"Customer {i:03d}")
            if i % 2:
                ledger_post(customer, TransactionKind.CALL, "-1.5")
        url = reverse("customers:list")
        with django_assert_max_num_queries(9):
            response = finance_client.get(url)
        assert response.status_code == 200 and len(response.context["page"].object_list) == 25
        with django_assert_max_num_queries(9):
            assert len(finance_client.get(url, {"page": 3}).context["page"].object_list) == 10
        body = finance_client.get(url, {"page": 1}).content.decode()
        assert '<span class="amount dr">-1.50  <b>DR</b></span>' in body

    def test_each_row_shows_its_customer_escaped_with_its_link_and_figures(self, finance_client):
        acme = postpaid("100", name='Acme <b>"&"</b> Ltd', code="ACME", invoice_setup=InvoiceSetup.CONSOLIDATED)
        ledger_post(acme, TransactionKind.CALL, "-12.5")
        page = finance_client.get(reverse("customers:list")).content.decode()
        start = page.index('<tr data-customer="ACME">')
        row = page[start:page.index("</tr>", start)]
        assert (f'<a hx-boost="false" href="{reverse("customers:detail", args=[acme.pk])}">'
                "Acme &lt;b&gt;&quot;&amp;&quot;&lt;/b&gt; Ltd</a>") in row and "<b>\"" not in page
        assert '<small class="mono">ACME</small>' in row
        assert '<span class="badge badge-postpaid">Postpaid</span>' in row and "<td>Consolidated</td>" in row
        assert ['<span class="amount dr">-12.50  <b>DR</b></span>', '<span class="amount zero">0.00 </span>',
                '<span class="amount dr">-12.50  <b>DR</b></span>', '<span class="amount cr">87.50  <b>CR</b></span>'
                ] == [cell.split("</td>")[0] for cell in row.split('<td class="num">')[1:]]

    def test_exports_the_filtered_customers_as_csv(self, finance_client):
        acme = postpaid("100", code="ACME", name="Acme")
        ledger_post(acme, TransactionKind.CALL, "-12.345678")
        prepaid(code="OTHER")
        response = finance_client.get(reverse("customers:list"), {"q": "acme", "format": "csv"})
        rows = csv_rows(response)
        assert rows[0][:2] == ["code", "name"]
        assert [r[0] for r in rows[1:]] == ["ACME"]
        assert rows[1][7] == "-12.345678" and rows[1][11] == "87.654322"

    def test_the_htmx_request_gets_only_the_table(self, finance_client):
        prepaid(code="ACME")
        response = finance_client.get(reverse("customers:list"), {"q": "ACME"}, HTTP_HX_REQUEST="true",
                                      HTTP_HX_TARGET="customer-table")
        body = response.content.decode()
        assert 'id="customer-table"' in body and "<html" not in body

    def test_is_for_staff_only(self, viewer_client):
        from django.test import Client

        from tests.customers.factories import portal_user

        assert Client().get(reverse("customers:list")).status_code == 302
        assert viewer_client.get(reverse("customers:list")).status_code == 200
        membership = portal_user(prepaid(), username="portal-1")
        client = Client()
        client.force_login(membership.user, backend="django.contrib.auth.backends.ModelBackend")
        assert client.get(reverse("customers:list")).status_code == 403


class TestCustomerPage:
    def test_shows_the_source_example_with_cr_dr_and_links_to_the_rows(self, finance_client):
        customer = postpaid("2000", invoice_setup=InvoiceSetup.CONSOLIDATED, code="EX1")
        ledger_post(customer, TransactionKind.CALL, "-1610.61")
        ledger_post(customer, TransactionKind.INVOICE, "-0.20544")
        reservation_reserve(customer_id=customer.pk, amount=D("20"), actor=SYSTEM, at=NOW)
        response = finance_client.get(reverse("customers:detail", args=[customer.pk]))
        body = response.content.decode()
        assert '<span class="amount dr">-1,610.81544 SGD <b>DR</b></span>' in body  # current balance
        assert '<span class="amount dr">-1,610.61 SGD <b>DR</b></span>' in body  # expecting invoice
        assert '<span class="amount dr">-0.20544 SGD <b>DR</b></span>' in body  # amount due
        assert '<span class="amount dr">-20.00 SGD <b>DR</b></span>' in body  # reserved
        assert '<span class="amount cr">369.39 SGD <b>CR</b></span>' in body  # usable = 2000 - 1610.61 - 20
        assert f'href="/customers/{customer.pk}/transactions/?view=unbilled"' in body
        assert f'href="/customers/{customer.pk}/transactions/?view=due"' in body
        assert f'href="/customers/{customer.pk}/reservations/"' in body
        assert f'href="/customers/{customer.pk}/transactions/?view=balance"' in body
        assert "2,000.00 credit limit" in body and "= 369.39" in body

    def test_an_unknown_customer_is_404(self, finance_client):
        assert finance_client.get(reverse("customers:detail", args=[999999])).status_code == 404


class TestTransactionsTab:
    def test_groups_by_type_with_subtotals_and_leaves_zero_amounts_out(self, finance_client):
        customer = postpaid("500", invoice_setup=InvoiceSetup.CONSOLIDATED)
        ledger_post(customer, TransactionKind.CALL, "-1.25")
        ledger_post(customer, TransactionKind.CALL, "-2.50")
        ledger_post(customer, TransactionKind.SMS, "-0.05")
        zero = ledger_post(customer, TransactionKind.SMS, "0")
        top_up(customer, "100")
        response = finance_client.get(reverse("customers:transactions", args=[customer.pk]))
        groups = {g.kind: g for g in response.context["summary"]["groups"]}
        assert groups["call"].subtotal == D("-3.75") and len(groups["call"].rows) == 2
        assert groups["sms"].subtotal == D("-0.05") and len(groups["sms"].rows) == 1
        assert groups["top_up"].subtotal == D("100")
        assert [g.kind for g in response.context["summary"]["groups"]] == ["call", "sms", "top_up"]
        assert f'data-transaction="{zero.pk}"' not in response.content.decode()
        assert "Subtotal Call" in response.content.decode()

    def test_filters_by_type_and_by_figure(self, finance_client):
        from tests.customers.test_figures import bill

        customer = postpaid("500", invoice_setup=InvoiceSetup.INDIVIDUAL)
        call = ledger_post(customer, TransactionKind.CALL, "-10")
        billed = ledger_post(customer, TransactionKind.HARDWARE, "-50")
        bill(customer, [billed], "INV-9")
        url = reverse("customers:transactions", args=[customer.pk])
        unbilled = finance_client.get(url, {"view": "unbilled"}).context["summary"]
        assert unbilled["total"] == customer.expecting_invoice == D("-10")
        assert [r.pk for g in unbilled["groups"] for r in g.rows] == [call.pk]
        due = finance_client.get(url, {"view": "due"}).context["summary"]
        assert due["total"] == customer.amount_due == D("-50")
        balance = finance_client.get(url, {"view": "balance"}).context["summary"]
        assert balance["total"] == customer.current_balance == D("-60")  # the billed -50 is counted once
        by_kind = finance_client.get(url, {"kind": "hardware"}).context["summary"]
        assert [r.pk for g in by_kind["groups"] for r in g.rows] == [billed.pk]

    def test_shows_the_latest_100_and_the_total_of_all_with_constant_queries(self, finance_client,
                                                                            django_assert_max_num_queries):
        customer = postpaid("10000")
        start = NOW - dt.timedelta(days=30)
        for i in range(130):
            ledger_post(customer, TransactionKind.CALL, "-1", at=start + dt.timedelta(hours=i))
        with django_assert_max_num_queries(12):
            response = finance_client.get(reverse("customers:transactions", args=[customer.pk]), {"view": "unbilled"})
        summary = response.context["summary"]
        assert summary["shown"] == 100 and summary["count"] == 130 and summary["total"] == D("-130")
        assert "showing the latest 100" in response.content.decode()

    def test_each_row_shows_its_entry_escaped_with_its_figure_and_its_correction(self, finance_client, viewer):
        from tests.customers.test_figures import bill

        customer = postpaid("500", invoice_setup=InvoiceSetup.INDIVIDUAL)
        at = NOW - dt.timedelta(days=2)
        call = ledger_post(customer, TransactionKind.CALL, "-1.5", at=at, reference="<b>CDR-1</b>",
                           description="Call to <script>x</script> " + "long " * 20)
        billed = ledger_post(customer, TransactionKind.HARDWARE, "-50", at=at)
        bill(customer, [billed], "INV-<9>")
        wrong = ledger_post(customer, TransactionKind.SMS, "-0.05", at=at)
        finance_client.post(reverse("customers:adjust", args=[customer.pk]), {"reverses": wrong.pk, "reason": "Test"})
        correction = Transaction.objects.get(reverses=wrong)
        url = reverse("customers:transactions", args=[customer.pk])
        page = finance_client.get(url).content.decode()

        def row(t):
            start = page.index(f'<tr data-transaction="{t.pk}">')
            return page[start:page.index("</tr>", start)]

        local = timezone.localtime(at)
        assert f'<td>{local:%Y-%m-%d %H:%M:%S} +08:00</td><td class="mono">{call.pk}</td>' in row(call)
        assert "<td>&lt;b&gt;CDR-1&lt;/b&gt;</td>" in row(call) and "<script>" not in page
        assert "Call to &lt;script&gt;x&lt;/script&gt; long long" in row(call) and "long lo…</td>" in row(call)  # 60 characters
        assert '<span class="badge badge-open">Unbilled</span>' in row(call)
        assert '<span class="amount dr">-1.50 SGD <b>DR</b></span>' in row(call)
        assert f'href="{url}adjust/?reverses={call.pk}">Reverse</a>' in row(call)
        assert (f'title="Billed {timezone.localtime(NOW):%Y-%m-%d}">Billed · INV-&lt;9&gt;</span>' in row(billed)
                and "Reverse</a>" in row(billed))  # a billed charge is corrected by a credit note, or reversed
        assert '<small class="muted">reversed</small>' in row(wrong) and "Reverse</a>" not in row(wrong)
        assert f'<small class="muted">reverses #{wrong.pk}</small>' in row(correction)
        assert "Reverse</a>" not in row(correction)  # a correction is not corrected again
        assert "Reverse</a>" not in viewer.get(url).content.decode()  # a Viewer may not post corrections

    def test_text_a_spreadsheet_would_run_as_a_formula_is_escaped(self, finance_client):
        customer = postpaid("100", code="CSV2", name="=HYPERLINK(\"http://evil.test\")")
        ledger_post(customer, TransactionKind.CALL, "-1", reference="@SUM(A1)", description="-2+3")
        rows = csv_rows(finance_client.get(reverse("customers:list"), {"format": "csv"}))
        assert rows[1][1] == "'=HYPERLINK(\"http://evil.test\")" and rows[1][7] == "-1.000000"
        rows = csv_rows(finance_client.get(reverse("customers:transactions", args=[customer.pk]), {"format": "csv"}))
        assert rows[1][3] == "-1.000000" and rows[1][8:] == ["'@SUM(A1)", "'-2+3"]

    def test_exports_all_the_filtered_transactions(self, finance_client):
        customer = postpaid("10000", code="CSV1")
        for _ in range(3):
            ledger_post(customer, TransactionKind.SMS, "-0.000009")
        ledger_post(customer, TransactionKind.CALL, "-1")
        response = finance_client.get(reverse("customers:transactions", args=[customer.pk]),
                                      {"kind": "sms", "format": "csv"})
        rows = csv_rows(response)
        assert len(rows) == 4 and {r[2] for r in rows[1:]} == {"sms"} and rows[1][3] == "-0.000009"


class TestActions:
    def test_create_a_customer_and_see_a_refusal_on_the_page(self, finance_client):
        url = reverse("customers:create")
        data = {"name": "Initech", "code": "INITECH", "billing_email": "ap@initech.test", "currency": "SGD",
                "account_type": "postpaid", "invoice_setup": "none", "credit_limit": "1,500.50",
                "show_invoices_tab": "on"}
        response = finance_client.post(url, data)
        customer = Customer.objects.get(code="INITECH")
        assert response.status_code == 302 and response.url == reverse("customers:detail", args=[customer.pk])
        assert customer.credit_limit == D("1500.50")
        again = finance_client.post(url, {**data, "name": "Other"}, HTTP_HX_REQUEST="true")
        assert again.status_code == 200
        assert "The code INITECH is already used by Initech." in again.content.decode()
        assert Customer.objects.count() == 1

    def test_a_prepaid_account_with_a_credit_limit_is_refused(self, finance_client):
        response = finance_client.post(reverse("customers:create"), {
            "name": "X", "code": "X1", "billing_email": "x@x.test", "currency": "SGD", "account_type": "prepaid",
            "invoice_setup": "individual", "credit_limit": "10"})
        assert response.status_code == 200 and "A prepaid account has no credit limit" in response.content.decode()
        assert not Customer.objects.exists()

    def test_edit_settings_records_the_reason(self, finance_client, viewer):
        customer = postpaid("100", code="EDIT")
        url = reverse("customers:edit", args=[customer.pk])
        assert viewer.get(url).status_code == 403
        form = finance_client.get(url).context["form"]
        data = {**form.initial, "credit_limit": "250", "reason": "Good payer", "show_invoices_tab": ""}
        response = finance_client.post(url, data)
        assert response.status_code == 302
        customer.refresh_from_db()
        assert customer.credit_limit == D("250") and customer.show_invoices_tab is False
        event = AuditEvent.objects.get(action="customers.customer.update")
        assert event.reason == "Good payer" and event.actor_label == "finance"

    def test_reverse_a_charge_from_the_transactions_tab(self, finance_client):
        customer = postpaid("100")
        wrong = ledger_post(customer, TransactionKind.CALL, "-7")
        page = finance_client.get(reverse("customers:transactions", args=[customer.pk])).content.decode()
        assert f'?reverses={wrong.pk}' in page
        response = finance_client.post(reverse("customers:adjust", args=[customer.pk]),
                                       {"reverses": wrong.pk, "reason": "Test call"})
        assert response.status_code == 302
        customer.refresh_from_db()
        assert customer.expecting_invoice == D("0")
        again = finance_client.post(reverse("customers:adjust", args=[customer.pk]),
                                    {"reverses": wrong.pk, "reason": "Twice"})
        assert "already reversed" in again.content.decode()

    def test_release_a_reservation(self, finance_client, viewer):
        customer = postpaid("100")
        r = reservation_reserve(customer_id=customer.pk, amount=D("30"), actor=SYSTEM, at=timezone.now())
        url = reverse("customers:reservation-release", args=[customer.pk, r.pk])
        assert viewer.post(url).status_code == 403
        page = finance_client.get(reverse("customers:reservations", args=[customer.pk]))
        assert f'data-reservation="{r.pk}"' in page.content.decode()
        response = finance_client.post(url, follow=True)
        assert "released: its credits are usable again" in response.content.decode()
        assert Reservation.objects.get(pk=r.pk).status == ReservationStatus.RELEASED
        again = finance_client.post(url, follow=True)
        assert "resolves once" in again.content.decode()

    def test_transfer_from_the_master_account_and_its_refusal(self, finance_client):
        wallet = funded_wallet("50")
        customer = prepaid(invoice_setup=InvoiceSetup.CONSOLIDATED)
        url = reverse("customers:transfer", args=[customer.pk])
        refused = finance_client.post(url, {"amount": "60", "wallet": wallet.pk})
        assert "holds only 50.00 SGD: 60.00 SGD cannot be transferred" in refused.content.decode()
        assert finance_client.post(url, {"amount": "20", "wallet": wallet.pk}).status_code == 302
        customer.refresh_from_db()
        wallet.refresh_from_db()
        assert customer.usable_credits == D("20") and wallet.balance == D("30")

    def test_a_float_looking_bad_amount_is_a_form_error(self, finance_client):
        wallet = funded_wallet("50")
        customer = prepaid()
        response = finance_client.post(reverse("customers:transfer", args=[customer.pk]),
                                       {"amount": "1e400", "wallet": wallet.pk})
        assert response.status_code == 200 and "Amount cannot be written with an exponent" in response.content.decode()
        too_large = finance_client.post(reverse("customers:transfer", args=[customer.pk]),
                                        {"amount": "1" * 30, "wallet": wallet.pk})
        assert too_large.status_code == 200 and "Amount is too large" in too_large.content.decode()
        assert not Transaction.objects.exists()

    def test_subscriptions_flag_a_negative_margin(self, finance_client):
        customer = prepaid()
        SubscriptionFactory(customer=customer, product="Cheap seat", renewal_price=D("5"), renewal_cost=D("8"))
        SubscriptionFactory(customer=customer, product="Good seat", renewal_price=D("20"), renewal_cost=D("8"))
        body = finance_client.get(reverse("customers:subscriptions", args=[customer.pk])).content.decode()
        assert body.count("Negative margin") == 1 and "-3.00 SGD" in body
        response = finance_client.post(reverse("customers:subscription-create", args=[customer.pk]), {
            "product": "Fax line", "kind": "service", "quantity": "2", "period_months": "12",
            "renewal_date": "2026-05-01", "renewal_price": "10", "renewal_cost": "12", "is_active": "on"},
            follow=True)
        assert "Its margin is negative (-2.00 SGD per unit)" in response.content.decode()

    def test_notifications_tab_filters_by_type(self, finance_client):
        customer = prepaid()
        notification_record(customer_id=customer.pk, kind="invoice", recipient="a@b.test", subject="Invoice INV-1",
                            actor=SYSTEM, at=NOW)
        notification_record(customer_id=customer.pk, kind="two_factor_code", recipient="+65", subject="Code",
                            channel="sms", actor=SYSTEM, at=NOW)
        url = reverse("customers:notifications", args=[customer.pk])
        assert len(finance_client.get(url).context["page"].object_list) == 2
        only = finance_client.get(url, {"kind": "two_factor_code"}).context["page"].object_list
        assert [n.subject for n in only] == ["Code"]

    def test_audit_tab_shows_the_customers_events(self, finance_client):
        customer = postpaid("100")
        from customers.services import customer_update

        customer_update(customer_id=customer.pk, credit_limit=D("300"), actor=SYSTEM)
        body = finance_client.get(reverse("customers:audit", args=[customer.pk])).content.decode()
        assert "customers.customer.update" in body

    def test_add_a_portal_login(self, finance_client):
        customer = prepaid()
        response = finance_client.post(reverse("customers:portal-user-create", args=[customer.pk]),
                                       {"username": "acme-ap", "email": "ap@acme.test", "password": "short"})
        assert "too short" in response.content.decode()
        finance_client.post(reverse("customers:portal-user-create", args=[customer.pk]),
                            {"username": "acme-ap", "email": "ap@acme.test", "password": "a-long-passphrase"})
        assert CustomerUser.objects.get(customer=customer).user.username == "acme-ap"

    def test_master_wallet_pages(self, finance_client, viewer):
        response = finance_client.post(reverse("customers:wallet-create"), {"name": "Master SGD", "currency": "SGD"})
        wallet = MasterWallet.objects.get()
        assert response.status_code == 302
        fund = reverse("customers:wallet-fund", args=[wallet.pk])
        assert viewer.post(fund, {"amount": "10", "reference": "x"}).status_code == 403
        bad = finance_client.post(fund, {"amount": "-5", "reference": "x"})
        assert "more than zero" in bad.content.decode()
        finance_client.post(fund, {"amount": "1000", "reference": "TT 55"})
        wallet.refresh_from_db()
        assert wallet.balance == D("1000")
        page = viewer.get(reverse("customers:wallet", args=[wallet.pk])).content.decode()
        assert "TT 55" in page and 'id="fund-form"' not in page
        assert "Master SGD" in finance_client.get(reverse("customers:wallets")).content.decode()


def test_every_customers_view_requires_a_permission():
    from django.urls import get_resolver

    resolver = get_resolver()
    patterns = resolver.namespace_dict["customers"][1].url_patterns
    for pattern in patterns:
        assert getattr(pattern.callback, "staff_perms", None), f"{pattern.name} is not wrapped in staff_view"


@pytest.mark.parametrize("account_type", [AccountType.PREPAID, AccountType.POSTPAID])
def test_every_tab_renders(finance_client, account_type):
    customer = postpaid("10") if account_type == AccountType.POSTPAID else prepaid()
    for name in ("detail", "transactions", "reservations", "subscriptions", "notifications", "audit", "edit",
                 "adjust", "transfer", "subscription-create", "portal-user-create"):
        assert finance_client.get(reverse(f"customers:{name}", args=[customer.pk])).status_code == 200, name


class TestCustomerTabLists:
    """The reservations, subscriptions and notifications tabs are lists like the others: search, filters,
    pagination and a CSV of every filtered row."""

    def test_reservations_show_the_open_ones_by_default_and_filter_search_and_export(self, finance_client):
        customer = postpaid("100")
        kept = reservation_reserve(customer_id=customer.pk, amount=D("30"), actor=SYSTEM, at=timezone.now(),
                                   reference="call-kept")
        gone = reservation_reserve(customer_id=customer.pk, amount=D("5"), actor=SYSTEM, at=timezone.now(),
                                   reference="call-gone")
        reservation_release(reservation_id=gone.pk, actor=SYSTEM, at=timezone.now(), reason="test")
        url = reverse("customers:reservations", args=[customer.pk])
        body = finance_client.get(url).content.decode()
        assert f'data-reservation="{kept.pk}"' in body and f'data-reservation="{gone.pk}"' not in body
        every = finance_client.get(url, {"status": "all"}).content.decode()
        assert f'data-reservation="{kept.pk}"' in every and f'data-reservation="{gone.pk}"' in every
        found = finance_client.get(url, {"status": "all", "q": "gone"}).content.decode()
        assert f'data-reservation="{gone.pk}"' in found and f'data-reservation="{kept.pk}"' not in found
        by_id = finance_client.get(url, {"status": "all", "q": f"#{kept.pk}"}).content.decode()
        assert f'data-reservation="{kept.pk}"' in by_id and f'data-reservation="{gone.pk}"' not in by_id
        csv = b"".join(finance_client.get(url, {"status": "released", "format": "csv"}).streaming_content).decode()
        lines = csv.strip().splitlines()
        assert lines[0].startswith("id,kind,reference") and len(lines) == 2 and "call-gone" in lines[1]
        bad = finance_client.get(url, {"reserved_from": "not-a-date"})
        assert bad.status_code == 200 and "Enter a valid date" in bad.content.decode()

    def test_subscriptions_filter_search_page_and_export(self, finance_client):
        customer = prepaid()
        SubscriptionFactory(customer=customer, product="Fax line", is_active=True)
        SubscriptionFactory(customer=customer, product="Old pager", is_active=False)
        url = reverse("customers:subscriptions", args=[customer.pk])
        ended = finance_client.get(url, {"active": "no"}).content.decode()
        assert "Old pager" in ended and "Fax line" not in ended
        found = finance_client.get(url, {"q": "fax"}).content.decode()
        assert "Fax line" in found and "Old pager" not in found and "1 subscription" in found
        csv = b"".join(finance_client.get(url, {"format": "csv"}).streaming_content).decode()
        lines = csv.strip().splitlines()
        assert lines[0].startswith("id,product,kind") and len(lines) == 3

    def test_notifications_search_and_export(self, finance_client):
        customer = prepaid()
        notification_record(customer_id=customer.pk, kind="invoice", recipient="a@b.test", subject="Invoice INV-1",
                            actor=SYSTEM, at=NOW)
        notification_record(customer_id=customer.pk, kind="invoice", recipient="c@d.test", subject="=HYPERLINK()",
                            actor=SYSTEM, at=NOW)
        url = reverse("customers:notifications", args=[customer.pk])
        found = finance_client.get(url, {"q": "INV-1"}).content.decode()
        assert "a@b.test" in found and "c@d.test" not in found
        csv = b"".join(finance_client.get(url, {"format": "csv"}).streaming_content).decode()
        assert len(csv.strip().splitlines()) == 3 and "'=HYPERLINK()" in csv
