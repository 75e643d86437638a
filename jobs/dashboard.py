"""The live dashboard page and the staff-only queue figures it shows."""
from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.shortcuts import render
from django.views.decorators.csrf import ensure_csrf_cookie
from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.permissions import IsAdminUser
from rest_framework.response import Response
from rest_framework.views import APIView

from .selectors import queue_stats


@login_required
@ensure_csrf_cookie
def dashboard(request):
    return render(request, "jobs/dashboard.html")


class QueueStatsView(APIView):
    """Waiting messages per broker queue and jobs per state (staff only)."""

    permission_classes = [IsAdminUser]

    @extend_schema(
        responses=inline_serializer(
            "QueueStats",
            {"queues": serializers.DictField(child=serializers.IntegerField(allow_null=True)),
             "jobs": serializers.DictField(child=serializers.IntegerField())},
        )
    )
    def get(self, request):
        return Response(queue_stats())
