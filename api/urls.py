"""Settings -> API keys (staff pages): api:settings-api-keys, api:settings-api-key-create,
api:settings-api-key-revoke. The API itself is api.v1 (config/urls.py mounts it at /api/v1/)."""

from django.urls import path

from . import views

app_name = "api"
urlpatterns = [
    path("", views.key_list, name="settings-api-keys"),
    path("new/", views.key_create, name="settings-api-key-create"),
    path("<int:pk>/revoke/", views.key_revoke, name="settings-api-key-revoke"),
]
