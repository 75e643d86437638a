from __future__ import annotations

from django.conf import settings
from django.db import models
from ulid import ULID


def new_job_id() -> str:
    # ULIDs sort by creation time, so ordering by id is ordering by submission.
    return str(ULID())


class JobStatus(models.TextChoices):
    SCHEDULED = "scheduled"  # accepted, held in the database until run_at
    PENDING = "pending"  # accepted, waiting for a worker
    RUNNING = "running"  # a worker holds the current attempt
    RETRYING = "retrying"  # the last attempt hit a transient error; next one at next_retry_at
    COMPLETED = "completed"  # terminal: the handler returned
    FAILED = "failed"  # terminal: permanent error or attempts exhausted (the dead-letter queue)
    CANCELLED = "cancelled"  # terminal: cancelled by its owner or an operator


TERMINAL_STATUSES = frozenset({JobStatus.COMPLETED, JobStatus.FAILED, JobStatus.CANCELLED})
# Accepted and not started: what a cancel takes without a handler to stop.
WAITING_STATUSES = frozenset({JobStatus.SCHEDULED, JobStatus.PENDING, JobStatus.RETRYING})


# The dead-letter queue: failed jobs nobody has replayed or discarded yet. Migration 0010's
# triggers on PostgreSQL say the same in SQL; change them together.
DEAD_LETTERS = models.Q(status=JobStatus.FAILED, discarded_at__isnull=True)


def waiting_for_worker(now) -> models.Q:
    """The one definition of "waiting" in figures (metrics, alerts, the dashboard's backlog): waiting
    jobs that are due, that is every one but those scheduled for later."""
    return models.Q(status__in=WAITING_STATUSES - {JobStatus.SCHEDULED}) | models.Q(status=JobStatus.SCHEDULED, run_at__lte=now)


class Priority(models.TextChoices):
    HIGH = "high"
    NORMAL = "normal"
    LOW = "low"


# Each priority has its own broker queue; on Redis workers poll them in this order.
QUEUE_FOR_PRIORITY = {Priority.HIGH: "high", Priority.NORMAL: "default", Priority.LOW: "low"}


def job_route(priority: str) -> dict:
    """apply_async's options for a job's message: its priority's queue on Redis; on RabbitMQ the
    priority queue `default` and a message priority (see JOBS_MESSAGE_PRIORITY in settings)."""
    if settings.BROKER_IS_AMQP:
        return {"queue": "default", "priority": settings.JOBS_MESSAGE_PRIORITY[priority]}
    return {"queue": QUEUE_FOR_PRIORITY[Priority(priority)]}


class Job(models.Model):
    id = models.CharField(primary_key=True, max_length=26, default=new_job_id, editable=False)
    type = models.CharField(max_length=100, db_index=True)
    status = models.CharField(max_length=16, choices=JobStatus.choices, default=JobStatus.PENDING)
    priority = models.CharField(max_length=8, choices=Priority.choices, default=Priority.NORMAL)
    # Indexed by job_owner_recent (owner first), which every owner filter uses: a second index
    # would cost every insert and move of a job (see migration 0011).
    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="jobs", db_index=False)

    input = models.JSONField(default=dict)
    output = models.JSONField(null=True, blank=True)
    progress = models.PositiveSmallIntegerField(default=0)
    progress_message = models.CharField(max_length=200, blank=True, default="")
    error_type = models.CharField(max_length=200, blank=True, default="")
    error_message = models.TextField(blank=True, default="")
    result_file = models.FileField(upload_to="results/", blank=True, default="")

    # The fencing token: every write by a worker names the attempt it holds and the claim it made
    # (the id of the message it ran), so that a claim lost in a database crash, and made again by
    # another worker for the same attempt number, shuts the first worker out (docs/reliability.md).
    attempts = models.PositiveIntegerField(default=0)
    claim_id = models.UUIDField(null=True, blank=True, editable=False)
    max_attempts = models.PositiveIntegerField(default=1)

    created_at = models.DateTimeField(auto_now_add=True)
    run_at = models.DateTimeField(null=True, blank=True)
    dispatched_at = models.DateTimeField(null=True, blank=True)
    started_at = models.DateTimeField(null=True, blank=True)
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    next_retry_at = models.DateTimeField(null=True, blank=True)
    completed_at = models.DateTimeField(null=True, blank=True)

    webhook_url = models.URLField(max_length=2000, blank=True, default="")

    # A batch parent fans out into children; its progress is the share of children finished.
    parent = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.CASCADE, related_name="children", db_index=False
    )  # indexed by job_children, over the few jobs that have a parent
    # Idempotency-Key of the request that created the job, and a hash of that request's body.
    idempotency_key = models.CharField(max_length=255, null=True, blank=True)
    request_fingerprint = models.CharField(max_length=64, blank=True, default="")
    # "<schedule>@<fire time>" for jobs created by a schedule: one job per firing, however many beats.
    schedule_key = models.CharField(max_length=255, null=True, blank=True, unique=True)
    # Set when an operator discards a failed job: it leaves the dead-letter queue but is kept.
    discarded_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-id"]
        indexes = [
            models.Index(fields=["owner", "-id"], name="job_owner_recent"),
            models.Index(fields=["status", "created_at"], name="job_status_created"),
            # The time windows of the metrics' fold, the alert rules and the cleanup.
            models.Index(fields=["created_at"], name="job_created"),
            models.Index(fields=["completed_at"], name="job_completed"),
            # The dead-letter queue, newest first: its count, its admin list and its error figures
            # read from the index alone (PostgreSQL; elsewhere the include is ignored).
            models.Index(fields=["-id"], include=["type", "error_type"], name="job_dead_letters",
                         condition=DEAD_LETTERS),
            models.Index(fields=["parent"], name="job_children", condition=models.Q(parent__isnull=False)),
        ]
        constraints = [
            models.UniqueConstraint(fields=["owner", "idempotency_key"], name="one_job_per_idempotency_key"),
        ]
        # Operators' rights beyond Django's view_job (jobs.authorization names them).
        permissions = [
            ("replay_job", "Can replay failed or cancelled jobs"),
            ("replay_edited_job", "Can replay a job with edited input"),
            ("cancel_job", "Can cancel any user's job"),
            ("discard_job", "Can discard dead letters"),
            ("submit_high_priority", "Can submit jobs with high priority"),
            ("view_metrics", "Can view metrics, the operations dashboard and queue figures, and get alerts"),
        ]

    def __str__(self) -> str:
        return f"{self.type} {self.id} ({self.status})"

    @property
    def is_terminal(self) -> bool:
        return self.status in TERMINAL_STATUSES


class DeadLetter(Job):
    """Failed jobs that nobody has replayed or discarded yet: the dead-letter queue."""

    class Meta:
        proxy = True
        verbose_name = "dead letter"
        verbose_name_plural = "dead letters (failed jobs)"


class DeadLetterTally(models.Model):
    """How the number of dead letters changed: +1 or -1 per job that became or stopped being one,
    written by triggers on the job table (PostgreSQL, migration 0010) in the transaction that moved
    the job, and folded into one row by the readers (jobs.selectors.dead_letter_count). Its sum is
    the count, exact, read from a few rows however many jobs ever failed."""

    change = models.BigIntegerField()


class JobAttempt(models.Model):
    """One row per attempt, appended and then closed; never overwritten by a later attempt."""

    class Outcome(models.TextChoices):
        RUNNING = "running"
        COMPLETED = "completed"
        RETRYING = "retrying"  # transient error, another attempt follows
        FAILED = "failed"  # permanent error or the last attempt
        CANCELLED = "cancelled"
        LOST = "lost"  # the worker stopped reporting (killed, partitioned)
        HANDED_BACK = "handed back"  # its worker stopped before it ended; not counted against max_attempts

    # Indexed by one_row_per_attempt (job first).
    job = models.ForeignKey(Job, on_delete=models.CASCADE, related_name="attempt_rows", db_index=False)
    number = models.PositiveIntegerField()
    worker = models.CharField(max_length=200, blank=True, default="")
    pid = models.PositiveIntegerField(null=True, blank=True)
    claim_id = models.UUIDField(null=True, blank=True, editable=False)  # the job's, while this attempt held it
    outcome = models.CharField(max_length=16, choices=Outcome.choices, default=Outcome.RUNNING)
    started_at = models.DateTimeField()
    finished_at = models.DateTimeField(null=True, blank=True)
    duration_ms = models.PositiveIntegerField(null=True, blank=True)
    error_type = models.CharField(max_length=200, blank=True, default="")
    error_message = models.TextField(blank=True, default="")
    traceback = models.TextField(blank=True, default="")

    class Meta:
        ordering = ["job", "number"]
        constraints = [
            models.UniqueConstraint(fields=["job", "number"], name="one_row_per_attempt"),
        ]
        indexes = [
            models.Index(fields=["started_at"], name="attempt_started"),
            models.Index(fields=["finished_at"], name="attempt_finished"),
        ]

    def __str__(self) -> str:
        return f"{self.job_id} attempt {self.number} ({self.outcome})"


class AuditEvent(models.Model):
    """Who did what to which job, when and from where. Append-only; read-only in the admin."""

    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    action = models.CharField(max_length=50, db_index=True)
    job = models.ForeignKey(Job, null=True, blank=True, on_delete=models.SET_NULL, related_name="audit_events")
    target = models.CharField(max_length=200, blank=True, default="")
    client_address = models.GenericIPAddressField(null=True, blank=True)
    details = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"{self.action} {self.target} by {self.actor_id}"

