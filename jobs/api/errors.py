"""One place where domain exceptions become HTTP answers."""
from __future__ import annotations

from django.core.exceptions import RequestDataTooBig
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

from ..errors import JobServiceError
from ..models import Job


def exception_handler(exc, context):
    if isinstance(exc, JobServiceError):
        return Response(exc.errors or {"detail": exc.message}, status=exc.status_code)
    if isinstance(exc, RequestDataTooBig):
        return Response({"detail": "Request body too large."}, status=413)
    if isinstance(exc, Job.DoesNotExist):
        return Response({"detail": "Not found."}, status=404)
    return drf_exception_handler(exc, context)
