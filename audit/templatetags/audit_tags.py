"""{% load audit_tags %}: `event|audit_diff` gives the readable before/after rows of an audit event."""

from django import template

from audit.selectors import diff_rows

register = template.Library()


@register.filter
def audit_diff(event):
    return diff_rows(event)
