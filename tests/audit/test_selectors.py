"""audit_events (the one read every trail page uses) and the readable diff."""

import datetime as dt

import pytest

from audit.models import AuditEvent
from audit.selectors import DiffRow, audit_events, customer_labels, diff_rows
from tests.audit.helpers import CustomerRecord, record

T0 = dt.datetime(2026, 3, 1, 15, 59, 59, 999999, tzinfo=dt.UTC)  # 23:59:59.999999 in Singapore


def _event(before, after):
    return AuditEvent(before=before, after=after)


class TestDiffRows:
    def test_changed_added_and_removed_fields_in_field_order(self):
        rows = diff_rows(_event({"status": "draft", "memo": "x", "same": 1}, {"status": "sent", "total": "5.00",
                                                                            "same": 1}))
        assert rows == [
            DiffRow("memo", "x", None, "removed"),
            DiffRow("status", "draft", "sent", "changed"),
            DiffRow("total", None, "5.00", "added", amount=True),
        ]

    def test_amounts_are_marked_so_the_page_formats_them_and_the_stored_text_is_kept(self):
        rows = diff_rows(_event({"amount": "1000.000000", "note": "v1.2.3", "n": "12"},
                                {"amount": "1250.500000", "note": "v1.2.4", "n": "13"}))
        assert rows == [DiffRow("amount", "1000.000000", "1250.500000", "changed", amount=True),
                        DiffRow("n", "12", "13", "changed"), DiffRow("note", "v1.2.3", "v1.2.4", "changed")]
        huge = diff_rows(_event({}, {"typed": "9" * 40 + ".5"}))  # text someone typed, not an amount
        assert huge == [DiffRow("typed", None, "9" * 40 + ".5", "added")]

    def test_nested_objects_become_dotted_fields(self):
        rows = diff_rows(_event({"settings": {"limit": "10", "on": True}}, {"settings": {"limit": "20", "on": True}}))
        assert rows == [DiffRow("settings.limit", "10", "20", "changed")]

    def test_values_read_plainly(self):
        rows = diff_rows(_event({}, {"flag": False, "n": 3, "lines": [1, 2], "empty": "", "none": None}))
        assert {r.field: r.after for r in rows} == {"flag": "no", "n": "3", "lines": "[1, 2]", "empty": "(empty)",
                                                    "none": "(none)"}

    def test_nothing_changed_gives_no_rows(self):
        assert diff_rows(_event({}, {})) == []
        assert diff_rows(_event({"a": 1}, {"a": 1})) == []


@pytest.mark.django_db
class TestAuditEvents:
    def test_dates_are_whole_days_in_the_operator_time_zone(self):
        late = record(at=T0)  # 2026-03-01 23:59:59.999999 SGT
        next_day = record(at=T0 + dt.timedelta(microseconds=1))  # 2026-03-02 00:00 SGT
        assert list(audit_events(date_to=dt.date(2026, 3, 1))) == [late]
        assert list(audit_events(date_from=dt.date(2026, 3, 2))) == [next_day]

    def test_exact_datetimes_are_taken_as_given(self):
        a = record(at=T0)
        record(at=T0 + dt.timedelta(hours=1))
        assert list(audit_events(date_from=T0 - dt.timedelta(seconds=1), date_to=T0)) == [a]

    def test_customer_id_and_object_filters(self):
        a = record(customer_id=5, object_type="invoices.invoice", object_id=9)
        record(customer_id=6)
        assert list(audit_events(customer_id=5)) == [a]
        assert list(audit_events(object_type="invoices.invoice", object_id=9)) == [a]

    def test_nothing_given_means_everything_newest_first(self):
        a, b = record(), record()
        assert list(audit_events(app="", customer_id=None, actor="", search="")) == [b, a]

    def test_customer_labels_come_from_the_latest_event_about_the_customer(self):
        record(app="customers", action="customers.customer.create", obj=CustomerRecord(5, "Old Name (OLD)"))
        record(app="customers", action="customers.customer.update", obj=CustomerRecord(5, "New Name (NEW)"))
        assert customer_labels([5, 6, None]) == {5: "New Name (NEW)"}
