from __future__ import annotations

import copy
import json
from datetime import timedelta

from django.conf import settings
from django.utils import timezone
from rest_framework import serializers

from common.ssrf import validate_webhook_url

from ..models import Job, Priority
from ..representation import job_representation


MAX_DELAY = timedelta(days=90)


class StrictSerializer(serializers.Serializer):
    """Refuses fields it does not know, so that a typo is an error instead of a silent default."""

    def __init_subclass__(cls, **kwargs):
        # Checked once per class, not per request: see get_fields.
        super().__init_subclass__(**kwargs)
        if any(hasattr(field, "child") for field in cls._declared_fields.values()
               if not isinstance(field, serializers.BaseSerializer)):
            raise TypeError(f"{cls.__name__}: a field with a child field needs DRF's deep copy; "
                            "StrictSerializer copies shallowly.")

    def get_fields(self):
        """The declared fields, copied for this instance. DRF deep-copies them, which runs every
        field's __init__ again: the larger part of validating a submit. A flat field is only read
        after its __init__ (bind() sets attributes of the copy), so a shallow copy is enough;
        nested serializers keep DRF's deep copy. Not for fields holding a child field (ListField,
        DictField): their child would be shared by every request, so subclasses declaring one are
        refused when they are defined."""
        return {
            name: copy.deepcopy(field) if isinstance(field, serializers.BaseSerializer) else copy.copy(field)
            for name, field in self._declared_fields.items()
        }

    def validate(self, attrs):
        unknown = set(getattr(self, "initial_data", {}) or {}) - set(self.fields)
        if unknown:
            raise serializers.ValidationError({name: ["Unknown field."] for name in sorted(unknown)})
        return super().validate(attrs)


class StrictFloatField(serializers.FloatField):
    """A JSON number, and only that: DRF's FloatField also takes true (as 1) and "3" (as 3.0)."""

    default_error_messages = {"invalid": "A number is required."}

    def to_internal_value(self, data):
        if isinstance(data, bool) or not isinstance(data, (int, float)):
            self.fail("invalid")
        return super().to_internal_value(data)


class SubmissionSerializer(StrictSerializer):
    """Options every submission takes, whatever its job type."""

    priority = serializers.ChoiceField(choices=Priority.choices, required=False)
    webhook_url = serializers.URLField(
        max_length=2000, required=False, allow_blank=True, validators=[validate_webhook_url]
    )
    run_at = serializers.DateTimeField(required=False, help_text="Run no earlier than this time (ISO 8601).")
    delay_seconds = StrictFloatField(
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
    """Declares the job's fields for the OpenAPI schema; the values come from job_representation."""

    output = serializers.JSONField(allow_null=True)
    error = JobErrorSerializer(allow_null=True)
    result_url = serializers.URLField(allow_null=True)
    status_url = serializers.URLField()
    input = serializers.JSONField(help_text='Sensitive fields are shown as "***".')

    class Meta:
        model = Job
        fields = [
            "id", "type", "status", "priority", "progress", "progress_message", "input", "output", "error",
            "attempts", "max_attempts", "created_at", "run_at", "started_at", "completed_at", "next_retry_at",
            "webhook_url", "result_url", "status_url",
        ]
        read_only_fields = fields

    def to_representation(self, job: Job) -> dict:
        request = self.context.get("request")
        return job_representation(job, request.build_absolute_uri if request else None)


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
