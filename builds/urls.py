from django.urls import path

from builds import views

app_name = "builds"

urlpatterns = [
    path("recipes/", views.recipe_list, name="recipe-list"),
    path("recipes/new/", views.recipe_create, name="recipe-create"),
    path("recipes/<int:pk>/", views.recipe_detail, name="recipe-detail"),
    path("recipes/<int:pk>/edit/", views.recipe_edit, name="recipe-edit"),
    path("recipes/<int:pk>/build/", views.recipe_build, name="recipe-build"),
    path("builds/", views.build_list, name="build-list"),
    path("builds/export.csv", views.build_list_export, name="build-list-export"),
    path("builds/<int:pk>/", views.build_detail, name="build-detail"),
    path("builds/<int:pk>/cancel/", views.build_cancel, name="build-cancel"),
    path("builds/<int:pk>/default/", views.build_set_default, name="build-set-default"),
]
