"""Alerts (read-only) and the operations dashboard, a staff-only admin page fed by a JSON view."""
from __future__ import annotations

from django.contrib import admin
from django.http import JsonResponse
from django.template.response import TemplateResponse
from django.urls import path

from jobs.admin import ReadOnlyAdmin

from .models import Alert
from .selectors import operations_overview


@admin.register(Alert)
class AlertAdmin(ReadOnlyAdmin):
    list_display = ["rule", "state", "message", "value", "threshold", "raised_at", "cleared_at"]
    list_filter = ["rule", ("cleared_at", admin.EmptyFieldListFilter), "raised_at"]
    readonly_fields = [f.name for f in Alert._meta.fields]
    change_list_template = "admin/ops/alert/change_list.html"

    @admin.display(description="state")
    def state(self, alert: Alert) -> str:
        return "active" if alert.active else "cleared"

    def get_urls(self):
        return [
            path("dashboard/", self.admin_site.admin_view(self.dashboard_view), name="ops_dashboard"),
            path("dashboard/data/", self.admin_site.admin_view(self.dashboard_data_view), name="ops_dashboard_data"),
            *super().get_urls(),
        ]

    def dashboard_view(self, request):
        context = {**self.admin_site.each_context(request), "title": "Operations", "overview": operations_overview()}
        return TemplateResponse(request, "admin/ops/dashboard.html", context)

    def dashboard_data_view(self, request):
        return JsonResponse(operations_overview())
