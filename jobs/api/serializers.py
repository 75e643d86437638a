from __future__ import annotations

import json
from datetime import timedelta

from django.conf import settings
from django.utils import timezone
from django.urls import reverse
from rest_framework import serializers

from notifications.ssrf import validate_webhook_url

from ..models import Job, JobStatus, Priority
from ..sensitive import input_mask


MAX_DELAY = timedelta(days=90)


class StrictSerializer(serializers.Serializer):
    """Refuses fields it does not know, so that a typo is an error instead of a silent default."""

    def validate(self, attrs):
        unknown = set(getattr(self, "initial_data", {}) or {}) - set(self.fields)
        if unknown:
            raise serializers.ValidationError({name: ["Unknown field."] for name in sorted(unknown)})
        return super().validate(attrs)


class SubmissionSerializer(StrictSerializer):
    """Options every submission takes, whatever its job type."""

    priority = serializers.ChoiceField(choices=Priority.choices, required=False)
    webhook_url = serializers.URLField(
        max_length=2000, required=False, allow_blank=True, validators=[validate_webhook_url]
    )
    run_at = serializers.DateTimeField(required=False, help_text="Run no earlier than this time (ISO 8601).")
    delay_seconds = serializers.FloatField(
        required=False, min_value=0, max_value=MAX_DELAY.total_seconds(), help_text="Run this many seconds from now."
    )

    def validate_run_at(self, value):
        if value > timezone.now() + MAX_DELAY:
            raise serializers.ValidationError(f"run_at may be at most {MAX_DELAY.days} days ahead.")
        return value

    def validate(self, attrs):
        attrs = super().validate(attrs)
        if "run_at" in attrs and "delay_seconds" in attrs:
            raise serializers.ValidationError({"run_at": ["Give run_at or delay_seconds, not both."]})
        if "delay_seconds" in attrs:
            attrs["run_at"] = timezone.now() + timedelta(seconds=attrs.pop("delay_seconds"))
        return attrs


class JobCreateSerializer(SubmissionSerializer):
    type = serializers.CharField(max_length=100)
    input = serializers.JSONField(default=dict, help_text="The job type's input (see /api/job-types/).")

    def validate_input(self, value):
        if not isinstance(value, dict):
            raise serializers.ValidationError("Input must be a JSON object.")
        size = len(json.dumps(value).encode())
        if size > settings.JOBS_MAX_INPUT_BYTES:
            raise serializers.ValidationError(
                f"Input is {size} bytes; the limit is {settings.JOBS_MAX_INPUT_BYTES} bytes."
            )
        return value


class JobErrorSerializer(serializers.Serializer):
    type = serializers.CharField()
    message = serializers.CharField()


class JobSerializer(serializers.ModelSerializer):
    input = serializers.SerializerMethodField()
    output = serializers.SerializerMethodField()
    error = serializers.SerializerMethodField()
    result_url = serializers.SerializerMethodField()
    status_url = serializers.SerializerMethodField()

    class Meta:
        model = Job
        fields = [
            "id", "type", "status", "priority", "progress", "progress_message", "input", "output", "error",
            "attempts", "max_attempts", "created_at", "run_at", "started_at", "completed_at", "next_retry_at",
            "webhook_url", "result_url", "status_url",
        ]
        read_only_fields = fields

    def get_input(self, job: Job) -> dict:
        # Sensitive fields are stored encrypted and shown as "***" (jobs/sensitive.py).
        return input_mask(job.input)

    def get_output(self, job: Job) -> dict | list | None:
        return job.output if job.status == JobStatus.COMPLETED else None

    def get_error(self, job: Job) -> dict | None:
        # The last error is shown while retrying too, so a client sees retries as they happen.
        if job.error_type and job.status in (JobStatus.FAILED, JobStatus.RETRYING):
            return {"type": job.error_type, "message": job.error_message}
        return None

    def get_result_url(self, job: Job) -> str | None:
        if not job.result_file:
            return None
        return self._absolute(reverse("job-result", args=[job.id]))

    def get_status_url(self, job: Job) -> str:
        return self._absolute(reverse("job-detail", args=[job.id]))

    def _absolute(self, path: str) -> str:
        request = self.context.get("request")
        return request.build_absolute_uri(path) if request else path


class JobAcceptedSerializer(serializers.Serializer):
    """The 202 answer: where to follow the job."""

    id = serializers.CharField()
    type = serializers.CharField()
    status = serializers.CharField()
    status_url = serializers.CharField()
    stream_url = serializers.CharField()
    ws_url = serializers.CharField()


class JobTypeSerializer(serializers.Serializer):
    name = serializers.CharField()
    description = serializers.CharField()
    default_priority = serializers.CharField()
    max_attempts = serializers.IntegerField()
    input_schema = serializers.JSONField()
