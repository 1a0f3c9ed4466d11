from rest_framework.routers import DefaultRouter

from inventory.api import viewsets
from rackpilot.core.api.views import EventViewSet

router = DefaultRouter()
router.register("tags", viewsets.TagViewSet, basename="tag")
router.register("sites", viewsets.SiteViewSet, basename="site")
router.register("racks", viewsets.RackViewSet, basename="rack")
router.register("machines", viewsets.MachineViewSet, basename="machine")
router.register("interfaces", viewsets.NetworkInterfaceViewSet, basename="interface")
router.register("disks", viewsets.DiskViewSet, basename="disk")
router.register("bmcs", viewsets.BMCViewSet, basename="bmc")
router.register("power-jobs", viewsets.PowerJobViewSet, basename="power-job")
router.register("events", EventViewSet, basename="event")

urlpatterns = router.urls
