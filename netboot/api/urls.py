from rest_framework.routers import DefaultRouter

from netboot.api import viewsets

router = DefaultRouter()
router.register("discovery-rules", viewsets.DiscoveryRuleViewSet, basename="discovery-rule")

urlpatterns = router.urls
