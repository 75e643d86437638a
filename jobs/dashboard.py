"""The live dashboard page and the staff-only queue figures it shows."""
from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.shortcuts import render
from django.views.decorators.csrf import ensure_csrf_cookie
from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.permissions import BasePermission
from rest_framework.response import Response
from rest_framework.views import APIView

from .authorization import VIEW_METRICS, is_operator
from .selectors import queue_stats


class CanViewMetrics(BasePermission):
    message = f"This needs a staff account with the permission {VIEW_METRICS}."

    def has_permission(self, request, view) -> bool:
        return is_operator(request.user, VIEW_METRICS)


@login_required
@ensure_csrf_cookie
def dashboard(request):
    return render(request, "jobs/dashboard.html")


class QueueStatsView(APIView):
    """Waiting messages per broker queue and jobs per state (operators with jobs.view_metrics)."""

    permission_classes = [CanViewMetrics]

    @extend_schema(
        responses=inline_serializer(
            "QueueStats",
            {"queues": serializers.DictField(child=serializers.IntegerField(allow_null=True)),
             "jobs": serializers.DictField(child=serializers.IntegerField())},
        )
    )
    def get(self, request):
        return Response(queue_stats())
