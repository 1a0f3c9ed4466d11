from django.urls import path, re_path

from netboot import views

app_name = "netboot"

# EC2 clients ask for a dated version or "latest"; both answer with the 2009-04-04 layout.
VERSION = r"(?P<version>2009-04-04|latest)"

urlpatterns = [
    path("ipxe/auto.ipxe", views.script_by_ip, name="script-by-ip"),
    path("ipxe/<str:mac>/auto.ipxe", views.script_by_mac, name="script-by-mac"),
    # Shadows builds' own route of the same path (this URLconf is included first) to put
    # kernel and initrd downloads on the fetching machine's timeline; it serves via builds.
    path("artifacts/<str:arch>/<str:name>", views.artifact, name="artifact"),
    re_path(rf"^{VERSION}/meta-data/(?P<path>.*)$", views.meta_data, name="meta-data"),
    re_path(rf"^{VERSION}/user-data/?$", views.user_data, name="user-data"),
]
