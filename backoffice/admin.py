"""The dashboard's snapshot in Django admin: view only (it is written by its refresh only)."""

from django.contrib import admin

from common.admin import ReadOnlyAdmin

from .models import DashboardSnapshot


@admin.register(DashboardSnapshot)
class DashboardSnapshotAdmin(ReadOnlyAdmin):
    list_display = ("id", "day", "taken_at")
    date_hierarchy = "taken_at"
