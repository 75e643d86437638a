"""What a handler sees of its job: its ids, progress reporting and artifact storage."""
from __future__ import annotations

import time

from django.conf import settings
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage

from .engine import batches, running
from .models import Job


class JobContext:
    def __init__(self, job: Job, attempt: int, *, min_interval: float | None = None):
        self.job = job
        self.job_id = job.id
        self.attempt = attempt
        self._min_interval = settings.JOBS_PROGRESS_MIN_INTERVAL if min_interval is None else min_interval
        self._percent = 0
        self._message = ""
        # The claim just wrote the job and pushed "running": the first progress write can wait.
        self._last_write = time.monotonic()
        self.spawned_children = False

    def progress(self, percent: float, message: str = "") -> None:
        """Report progress 0-100. Writes are coalesced to one per JOBS_PROGRESS_MIN_INTERVAL, and
        progress never goes backwards within an attempt. Raises JobCancelled once the job is
        cancelled, so a handler stops at its next progress call."""
        called_at = time.time()
        self._percent = max(self._percent, min(100, max(0, int(percent))))
        self._message = message
        now = time.monotonic()
        if now - self._last_write >= self._min_interval:
            self._last_write = now
            running.job_report_progress(self.job, self.attempt, self._percent, self._message, at=called_at)

    @property
    def owner(self):
        """The job's owner, read when a handler first asks (most never do)."""
        return self.job.owner

    @property
    def last_message(self) -> str:
        return self._message

    def save_artifact(self, name: str, content: bytes | str) -> str:
        """Store the job's result file through Django's storage API; returns its storage name."""
        data = content.encode() if isinstance(content, str) else content
        stored = default_storage.save(f"results/{self.job_id}/{name}", ContentFile(data))
        running.job_attach_result(self.job_id, self.attempt, self.job.claim_id, stored)
        return stored

    def spawn_children(self, type_name: str, inputs: list[dict], priority: str | None = None) -> int:
        """Fan out into child jobs of `type_name`, one per input, created in bulk. The job then
        completes when every child has finished: its progress is the share of children finished and
        its output adds up the numbers in theirs. Safe to call again on a re-run (creates nothing)."""
        count = batches.job_spawn_children(self.job, self.attempt, type_name, inputs, priority)
        self.spawned_children = True
        return count
