"""Alerts (read-only) and the operations dashboard, a staff-only admin page fed by a JSON view."""
from __future__ import annotations

from django.contrib import admin
from django.core.exceptions import PermissionDenied
from django.http import JsonResponse
from django.template.response import TemplateResponse
from django.urls import path

from jobs.admin import ReadOnlyAdmin
from jobs.authorization import VIEW_METRICS, is_operator

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

    def changelist_view(self, request, extra_context=None):
        extra_context = {**(extra_context or {}), "can_view_metrics": is_operator(request.user, VIEW_METRICS)}
        return super().changelist_view(request, extra_context)

    def dashboard_view(self, request):
        self._check_metrics_permission(request)
        context = {**self.admin_site.each_context(request), "title": "Operations", "overview": operations_overview()}
        return TemplateResponse(request, "admin/ops/dashboard.html", context)

    def dashboard_data_view(self, request):
        self._check_metrics_permission(request)
        return JsonResponse(operations_overview())

    @staticmethod
    def _check_metrics_permission(request) -> None:
        if not is_operator(request.user, VIEW_METRICS):
            raise PermissionDenied
