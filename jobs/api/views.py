"""Thin API views: parse, call a service or selector, shape the answer."""
from __future__ import annotations

import hashlib
import hmac
import json
import mimetypes
import os
from django.conf import settings
from django.http import FileResponse, Http404
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import generics, serializers, status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from .. import selectors, services
from ..models import Job, JobStatus
from ..authorization import job_type_visible
from ..registry import all_job_types
from .throttling import SubmitRateThrottle
from .serializers import JobAcceptedSerializer, JobCreateSerializer, JobSerializer, JobTypeSerializer, job_path


def client_address(request) -> str | None:
    """Where an audited action came from (a Django or DRF request)."""
    return request.META.get("REMOTE_ADDR") or None


IDEMPOTENCY_KEY_HEADER = OpenApiParameter(
    "Idempotency-Key",
    str,
    location=OpenApiParameter.HEADER,
    description="Repeat a request safely: the same key and body within 24 h return the original job; "
    "the same key with another body answers 422.",
)


def request_fingerprint(request: Request) -> str:
    """What makes two requests "the same" for an Idempotency-Key: the endpoint and the JSON body."""
    canonical = json.dumps({"path": request.path, "body": request.data}, sort_keys=True, default=str)
    # Keyed, so the stored hash cannot be used to guess a sensitive field's value offline.
    return hmac.new(settings.SECRET_KEY.encode(), canonical.encode(), hashlib.sha256).hexdigest()


def submit_job(request: Request, type_name: str, input: dict, options: dict) -> Response:
    """Enqueue for the requesting user with the SubmissionSerializer `options` and answer 202; with
    an Idempotency-Key, a repeated request answers 202 with the original job and
    `Idempotent-Replayed: true`."""
    submission = {
        "type_name": type_name,
        "input": input,
        "priority": options.get("priority"),
        "webhook_url": options.get("webhook_url", ""),
        "run_at": options.get("run_at"),
    }
    key = request.headers.get("Idempotency-Key")
    if key is None:
        job = services.job_enqueue(owner=request.user, client_address=client_address(request), **submission)
        return accepted_response(request, job)
    if not 1 <= len(key) <= 255:
        raise serializers.ValidationError({"Idempotency-Key": ["Must be 1 to 255 characters."]})
    job, created = services.job_enqueue_idempotent(
        owner=request.user,
        idempotency_key=key,
        request_fingerprint=request_fingerprint(request),
        client_address=client_address(request),
        **submission,
    )
    response = accepted_response(request, job)
    if not created:
        response["Idempotent-Replayed"] = "true"
    return response


def accepted_response(request: Request, job: Job) -> Response:
    """202 Accepted with where to poll (Location), when (Retry-After) and where to listen."""
    status_url = request.build_absolute_uri(job_path("job-detail", job.id))
    ws_scheme = "wss" if request.is_secure() else "ws"
    body = {
        "id": job.id,
        "type": job.type,
        "status": job.status,
        "status_url": status_url,
        "stream_url": request.build_absolute_uri(job_path("job-stream", job.id)),
        "ws_url": f"{ws_scheme}://{request.get_host()}/ws/jobs/{job.id}/",
    }
    headers = {"Location": status_url, "Retry-After": str(settings.JOBS_POLL_AFTER_SECONDS)}
    return Response(body, status=status.HTTP_202_ACCEPTED, headers=headers)


class JobListCreateView(generics.ListAPIView):
    serializer_class = JobSerializer
    throttle_classes = [SubmitRateThrottle]

    @extend_schema(
        parameters=[
            OpenApiParameter("status", str, enum=JobStatus.values),
            OpenApiParameter("type", str),
        ]
    )
    def get(self, request, *args, **kwargs):
        return super().get(request, *args, **kwargs)

    def get_queryset(self):
        status_filter = self.request.query_params.get("status")
        if status_filter and status_filter not in JobStatus.values:
            raise serializers.ValidationError({"status": [f"Must be one of: {', '.join(JobStatus.values)}."]})
        return selectors.job_list(self.request.user, status=status_filter, type_name=self.request.query_params.get("type"))

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
        job = services.job_cancel(job, actor=request.user, client_address=client_address(request))
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
