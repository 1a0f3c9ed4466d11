from django.urls import path
from rest_framework.routers import DefaultRouter

from builds.api import viewsets

router = DefaultRouter()
router.register("recipes", viewsets.RecipeViewSet, basename="recipe")
router.register("builds", viewsets.BuildViewSet, basename="build")

# No trailing slash: the file's name ends the URL, as on the public /artifacts/ route.
artifact = viewsets.BuildViewSet.as_view({"get": "artifact", "head": "artifact"})
log_text = viewsets.BuildViewSet.as_view({"get": "log_text"})

urlpatterns = [
    path("builds/<int:pk>/artifacts/<str:name>", artifact, name="build-artifact"),
    path("builds/<int:pk>/log.txt", log_text, name="build-log-text"),
    *router.urls,
]
