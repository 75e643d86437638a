"""The store: the few writes of the engine's hot path, behind one interface with two
implementations. `PostgresStore` writes each as one hand-written statement (one round trip, no
transaction of its own); `PortableStore` writes the same through the ORM, on any database Django
supports. They must behave the same: tests/jobs/test_engine.py and test_transitions.py run
against both."""
from __future__ import annotations

from abc import ABC, abstractmethod

from django.db.models import Model

from ..engine.transitions import Move
from ..models import Job


class Store(ABC):
    name: str

    @abstractmethod
    def insert_together(self, *new_rows: Model) -> None:
        """Insert new rows (a job and its audit event) atomically."""

    @abstractmethod
    def claim(self, job_id: str, attempt: int, changes: dict, worker: str, pid: int | None) -> Job | None:
        """Make the CLAIM move for attempt `attempt` (the job must be at `attempt - 1`) with
        `changes`, setting started_at if unset, and insert the attempt row (started at
        changes["heartbeat_at"], with changes["claim_id"]). Returns the job as it now is, with
        `owner_is_active`; None when the move was not allowed."""

    @abstractmethod
    def finish(
        self, job_id: str, attempt: int, claim_id, move: Move, job_changes: dict, attempt_changes: dict
    ) -> Job | None:
        """Make `move` (complete, retry or fail) for the job at attempt `attempt` under the claim
        `claim_id` and, only when it moved, close its attempt row with `attempt_changes`. Returns
        the job as it now is, or None."""

    @abstractmethod
    def mark_dispatched(self, job_id: str, at) -> None:
        """Record that the job's message was published (unless it already was)."""
