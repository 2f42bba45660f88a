from django.urls import path

from . import views

urlpatterns = [
    path("health/", views.health, name="health"),
    path("notes/", views.notes, name="notes"),
    path("ticks/", views.ticks, name="ticks"),
    path("about/", views.about, name="about"),
    path("tasks/add/", views.add_task, name="add-task"),
    path("tasks/<str:task_id>/", views.task_status, name="task-status"),
]
