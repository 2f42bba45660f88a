from django.contrib import admin

from .models import Note, Tick


@admin.register(Note)
class NoteAdmin(admin.ModelAdmin):
    list_display = ["title", "created"]
    search_fields = ["title", "body"]


@admin.register(Tick)
class TickAdmin(admin.ModelAdmin):
    list_display = ["source", "created"]
    list_filter = ["source"]
