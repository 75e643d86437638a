"""POST /api/reports/generate: the domain endpoint, a thin wrapper over job submission."""
from __future__ import annotations

from django.urls import path
from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from jobs.api.throttling import SubmitRateThrottle
from jobs.api.serializers import JobAcceptedSerializer, SubmissionSerializer
from jobs.api.submission import IDEMPOTENCY_KEY_HEADER, submit_job
from jobs.errors import InvalidJobInput
from jobs.registry import get_job_type


REPORT_FIELDS = ("start_date", "end_date", "format")


class GenerateReportRequest(SubmissionSerializer):
    start_date = serializers.JSONField(help_text="YYYY-MM-DD")
    end_date = serializers.JSONField(help_text="YYYY-MM-DD")
    format = serializers.JSONField(required=False, help_text='"csv" (default) or "pdf"')

    def validate(self, attrs):
        attrs = super().validate(attrs)
        # Dates and format are checked by the job type's own input model, in one place; its
        # errors are reported against this endpoint's flat fields.
        report_input = {key: attrs[key] for key in REPORT_FIELDS if key in attrs}
        try:
            get_job_type("reports.generate").validate_input(report_input)
        except InvalidJobInput as exc:
            raise serializers.ValidationError(exc.errors["input"]) from None
        attrs["input"] = report_input
        return attrs


class GenerateReportView(APIView):
    throttle_classes = [SubmitRateThrottle]

    @extend_schema(
        request=GenerateReportRequest, responses={202: JobAcceptedSerializer}, parameters=[IDEMPOTENCY_KEY_HEADER]
    )
    def post(self, request: Request) -> Response:
        params = GenerateReportRequest(data=request.data)
        params.is_valid(raise_exception=True)
        data = params.validated_data
        return submit_job(request, "reports.generate", data["input"], data)


urlpatterns = [path("reports/generate", GenerateReportView.as_view(), name="report-generate")]
