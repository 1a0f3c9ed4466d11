from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import URLPattern, URLResolver, include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from rackpilot.core import views as core_views
from rackpilot.core import views_account as account_views

api_v1: list[URLPattern | URLResolver] = [
    path("", include("inventory.api.urls")),
    path("", include("workflows.api.urls")),
    # Before builds': its router would read "import-hookos" as a build's id.
    path("", include("tinkerbell.api_urls")),
    path("", include("builds.api.urls")),
    path("", include("netboot.api.urls")),
    path("schema/", SpectacularAPIView.as_view(), name="schema"),
    path("docs/", SpectacularSwaggerView.as_view(url_name="schema"), name="swagger-ui"),
]

urlpatterns = [
    path("admin/", admin.site.urls),
    path("api/v1/", include(api_v1)),
    path("healthz", core_views.healthz, name="healthz"),
    path("metrics", core_views.metrics_view, name="metrics"),
    path("accounts/login/", auth_views.LoginView.as_view(), name="login"),
    path("accounts/logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("events/", core_views.event_list, name="event-log"),
    path("events/export.csv", core_views.event_list_export, name="event-log-export"),
    path("search/", core_views.search, name="search"),
    path("account/tokens/", account_views.account_tokens, name="account-tokens"),
    path("users/", account_views.users, name="users"),
    # Netboot and metadata first: machines reach them without a login.
    path("", include("netboot.urls")),
    path("", include("workflows.urls")),
    path("", include("tinkerbell.urls")),
    path("", include("builds.urls")),
    path("", include("netboot.urls_discovery")),
    path("", include("inventory.urls")),
]

# JSON for API clients, the HTML pages for browsers (rackpilot/core/errors_views.py).
handler400 = "rackpilot.core.errors_views.bad_request"
handler403 = "rackpilot.core.errors_views.permission_denied"
handler404 = "rackpilot.core.errors_views.page_not_found"
handler500 = "rackpilot.core.errors_views.server_error"
