"""The project's URLs plus one baseline view for bench/pages.py, mounted only under bench.settings."""

from django.http import HttpResponse
from django.urls import path

from config.urls import urlpatterns as project_urlpatterns
from customers.models import Customer


def one_query(request):
    """The baseline: what every signed-in page pays anyway (the session and the user, read by the
    middleware), plus exactly one query of its own, and a tiny response."""
    if not request.user.is_authenticated:
        return HttpResponse("sign in", status=403, content_type="text/plain")
    name = Customer.objects.order_by("pk").values_list("name", flat=True).first()
    return HttpResponse(f"<p>{name}</p>", content_type="text/html")


urlpatterns = [path("bench/one-query/", one_query, name="bench-one-query"), *project_urlpatterns]
