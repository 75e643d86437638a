"""Thin API views: parse, call a service or selector, shape the answer."""
from __future__ import annotations

import mimetypes
import os
import re

from django.http import FileResponse, Http404
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import generics, serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from common.http import client_address

from .. import selectors
from ..engine import actions
from ..models import JobStatus
from ..authorization import job_type_visible
from ..registry import all_job_types
from .throttling import SubmitRateThrottle
from .serializers import JobAcceptedSerializer, JobCreateSerializer, JobSerializer, JobTypeSerializer
from .submission import IDEMPOTENCY_KEY_HEADER, submit_job

JOB_ID = re.compile(r"[0-9A-Za-z]{1,26}")


class JobListCreateView(generics.ListAPIView):
    serializer_class = JobSerializer
    throttle_classes = [SubmitRateThrottle]

    @extend_schema(
        parameters=[
            OpenApiParameter("status", str, enum=JobStatus.values),
            OpenApiParameter("type", str),
            OpenApiParameter("before", str, description="Only jobs older than this job id (newest first): pages past the first 10,000 jobs."),
        ]
    )
    def get(self, request, *args, **kwargs):
        return super().get(request, *args, **kwargs)

    def get_queryset(self):
        status_filter = self.request.query_params.get("status")
        if status_filter and status_filter not in JobStatus.values:
            raise serializers.ValidationError({"status": [f"Must be one of: {', '.join(JobStatus.values)}."]})
        before = self.request.query_params.get("before")
        if before is not None and not JOB_ID.fullmatch(before):
            raise serializers.ValidationError({"before": ["Must be a job id (26 letters and digits)."]})
        return selectors.job_list(self.request.user, status=status_filter, type_name=self.request.query_params.get("type"),
                                  before=before)

    @extend_schema(
        request=JobCreateSerializer, responses={202: JobAcceptedSerializer}, parameters=[IDEMPOTENCY_KEY_HEADER]
    )
    def post(self, request: Request) -> Response:
        params = JobCreateSerializer(data=request.data)
        params.is_valid(raise_exception=True)
        data = params.validated_data
        return submit_job(request, data["type"], data["input"], data)


class JobDetailView(APIView):
    @extend_schema(responses=JobSerializer)
    def get(self, request: Request, job_id: str) -> Response:
        job = selectors.job_get_for_user(request.user, job_id)
        return Response(JobSerializer(job, context={"request": request}).data)


class JobCancelView(APIView):
    @extend_schema(request=None, responses={200: JobSerializer, 409: OpenApiTypes.OBJECT})
    def post(self, request: Request, job_id: str) -> Response:
        job = selectors.job_get_for_user(request.user, job_id)
        job = actions.job_cancel(job, actor=request.user, client_address=client_address(request))
        return Response(JobSerializer(job, context={"request": request}).data)


class JobResultView(APIView):
    @extend_schema(responses={(200, "application/octet-stream"): OpenApiTypes.BINARY})
    def get(self, request: Request, job_id: str):
        job = selectors.job_get_for_user(request.user, job_id)
        if not job.result_file:
            raise Http404("This job has no result file.")
        filename = os.path.basename(job.result_file.name)
        content_type = mimetypes.guess_type(filename)[0] or "application/octet-stream"
        return FileResponse(job.result_file.open("rb"), as_attachment=True, filename=filename, content_type=content_type)


class JobTypeListView(APIView):
    @extend_schema(responses=JobTypeSerializer(many=True))
    def get(self, request: Request) -> Response:
        """The job types you may submit, with their input schemas."""
        types = [
            {
                "name": jt.name,
                "description": jt.description,
                "default_priority": jt.default_priority,
                "max_attempts": jt.retry.max_attempts,
                "input_schema": jt.input_schema(),
            }
            for jt in all_job_types()
            if job_type_visible(request.user, jt)
        ]
        return Response(JobTypeSerializer(types, many=True).data)
