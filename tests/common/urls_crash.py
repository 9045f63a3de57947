"""The project's URLs plus one view that fails, for the 500 page's tests."""

from django.urls import path

from config.urls import urlpatterns as project


def crash(request):
    raise RuntimeError("a bug")


urlpatterns = [path("crash-for-tests/", crash), *project]
