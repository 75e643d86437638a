"""Submitting through the API: the one path every submit endpoint takes (POST /api/jobs/, and the
domain endpoints of other apps such as POST /api/reports/generate), with Idempotency-Key and the
202 answer."""
from __future__ import annotations

import hashlib
import hmac
import json

from django.conf import settings
from drf_spectacular.utils import OpenApiParameter
from rest_framework import serializers, status
from rest_framework.request import Request
from rest_framework.response import Response

from common.http import client_address

from ..engine.submission import job_enqueue, job_enqueue_idempotent
from ..models import Job
from ..representation import job_path


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
        job = job_enqueue(owner=request.user, client_address=client_address(request), **submission)
        return accepted_response(request, job)
    if not 1 <= len(key) <= 255:
        raise serializers.ValidationError({"Idempotency-Key": ["Must be 1 to 255 characters."]})
    job, created = job_enqueue_idempotent(
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
    origin = request.build_absolute_uri("/")[:-1]  # once: job paths need no escaping
    status_url = origin + job_path("job-detail", job.id)
    ws_scheme = "wss" if request.is_secure() else "ws"
    body = {
        "id": job.id,
        "type": job.type,
        "status": job.status,
        "status_url": status_url,
        "stream_url": origin + job_path("job-stream", job.id),
        "ws_url": f"{ws_scheme}://{request.get_host()}/ws/jobs/{job.id}/",
    }
    headers = {"Location": status_url, "Retry-After": str(settings.JOBS_POLL_AFTER_SECONDS)}
    return Response(body, status=status.HTTP_202_ACCEPTED, headers=headers)
