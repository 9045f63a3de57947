"""The API keys list's filters (common.filters)."""

from __future__ import annotations

import django_filters as df
from django.db.models import Q

from common.filters import ListFilterSet, SearchFilter


class ApiKeyFilterSet(ListFilterSet):
    q = SearchFilter("search", "Client name or key prefix", max_length=80)
    status = df.ChoiceFilter(label="Status", choices=[("active", "Active"), ("revoked", "Revoked")],
                             empty_label="All keys", method="by_status")

    def search(self, queryset, name, q):
        return queryset.filter(Q(name__icontains=q) | Q(prefix__startswith=q))

    def by_status(self, queryset, name, status):
        return queryset.filter(revoked_at__isnull=status == "active")
