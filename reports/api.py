"""POST /api/reports/generate: the domain endpoint, a thin wrapper over job submission."""
from __future__ import annotations

from django.urls import path
from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from jobs import services
from jobs.api.serializers import JobAcceptedSerializer
from jobs.api.views import accepted_response, client_address
from jobs.models import Priority


class GenerateReportRequest(serializers.Serializer):
    start_date = serializers.JSONField(help_text="YYYY-MM-DD")
    end_date = serializers.JSONField(help_text="YYYY-MM-DD")
    format = serializers.JSONField(required=False, help_text='"csv"')
    priority = serializers.ChoiceField(choices=Priority.choices, required=False)
    webhook_url = serializers.URLField(max_length=2000, required=False, allow_blank=True)


class GenerateReportView(APIView):
    @extend_schema(request=GenerateReportRequest, responses={202: JobAcceptedSerializer})
    def post(self, request: Request) -> Response:
        params = GenerateReportRequest(data=request.data)
        params.is_valid(raise_exception=True)
        data = params.validated_data
        # Dates and format are validated by the job type's own input model, in one place.
        report_input = {key: data[key] for key in ("start_date", "end_date", "format") if key in data}
        job = services.job_enqueue(
            owner=request.user,
            type_name="reports.generate",
            input=report_input,
            priority=data.get("priority"),
            webhook_url=data.get("webhook_url", ""),
            client_address=client_address(request),
        )
        return accepted_response(request, job)


urlpatterns = [path("reports/generate", GenerateReportView.as_view(), name="report-generate")]
