"""Webhook endpoints: the signing secret and a job's delivery log."""
from __future__ import annotations

from django.urls import path
from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from common.http import client_address

from . import selectors, services, webhooks
from .models import WebhookAttempt, WebhookDelivery, WebhookSecret


class WebhookSecretSerializer(serializers.ModelSerializer):
    secret = serializers.CharField(source="clear", read_only=True, help_text="whsec_<base64>: verify deliveries with it.")

    class Meta:
        model = WebhookSecret
        fields = ["secret", "created_at", "rotated_at", "previous_valid_until"]
        read_only_fields = fields


class WebhookAttemptSerializer(serializers.ModelSerializer):
    class Meta:
        model = WebhookAttempt
        fields = ["number", "started_at", "duration_ms", "status_code", "response_excerpt", "error", "will_retry"]
        read_only_fields = fields


class WebhookDeliverySerializer(serializers.ModelSerializer):
    attempts = WebhookAttemptSerializer(source="attempt_rows", many=True, read_only=True)

    class Meta:
        model = WebhookDelivery
        fields = [
            "webhook_id", "event_type", "url", "status", "max_attempts", "created_at", "next_attempt_at",
            "finished_at", "attempts",
        ]
        read_only_fields = fields


class WebhookSecretView(APIView):
    @extend_schema(responses=WebhookSecretSerializer)
    def get(self, request: Request) -> Response:
        """Your webhook signing secret (created on first use); verify deliveries with it."""
        return Response(WebhookSecretSerializer(webhooks.webhook_secret_get(request.user.pk)).data)


class WebhookSecretRotateView(APIView):
    @extend_schema(request=None, responses=WebhookSecretSerializer)
    def post(self, request: Request) -> Response:
        """Replace your webhook signing secret: every later try is signed with the new one, and until
        `previous_valid_until` (WEBHOOK_SECRET_OVERLAP_SECONDS) with the old one too."""
        secret = services.webhook_secret_rotate(request.user, actor=request.user, client_address=client_address(request))
        return Response(WebhookSecretSerializer(secret).data)


class JobDeliveriesView(APIView):
    @extend_schema(responses=WebhookDeliverySerializer(many=True))
    def get(self, request: Request, job_id: str) -> Response:
        """The job's webhook deliveries, newest first, each with every try."""
        deliveries = selectors.webhook_deliveries_for_job(request.user, job_id)
        return Response(WebhookDeliverySerializer(deliveries, many=True).data)


urlpatterns = [
    path("webhooks/secret", WebhookSecretView.as_view(), name="webhook-secret"),
    path("webhooks/secret/rotate", WebhookSecretRotateView.as_view(), name="webhook-secret-rotate"),
    path("jobs/<str:job_id>/deliveries", JobDeliveriesView.as_view(), name="job-deliveries"),
]
