"""WebSocket endpoints: ws/jobs/{id}/ follows one job, ws/jobs/ follows all of a user's jobs."""
from __future__ import annotations

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncJsonWebsocketConsumer

from . import events, selectors
from .authorization import sees_all_jobs
from .models import Job


@database_sync_to_async
def _visible_job(user, job_id: str) -> Job | None:
    try:
        return selectors.job_get_for_user(user, job_id)
    except Job.DoesNotExist:
        return None


@database_sync_to_async
def _snapshot(user, job_id: str) -> dict | None:
    job = Job.objects.filter(id=job_id).first()
    return events.job_snapshot(job) if job else None


@database_sync_to_async
def _recent_jobs(user, limit: int = 50) -> list[dict]:
    return [events.job_payload(job) for job in selectors.job_list(user)[:limit]]


class _AuthenticatedConsumer(AsyncJsonWebsocketConsumer):
    def accept_subprotocol(self) -> str | None:
        # A client that authenticated with the ["token", "<key>"] subprotocol pair gets "token" back.
        return "token" if "token" in self.scope.get("subprotocols", []) else None

    @property
    def user(self):
        return self.scope.get("user")

    def authenticated(self) -> bool:
        return bool(self.user and self.user.is_authenticated)

    async def disconnect(self, code):
        if hasattr(self, "group"):
            await self.channel_layer.group_discard(self.group, self.channel_name)


class JobConsumer(_AuthenticatedConsumer):
    """A snapshot on connect, then progress and one terminal event; closed after the terminal one."""

    async def connect(self):
        self.job_id = self.scope["url_route"]["kwargs"]["job_id"]
        self.filter = events.JobEventFilter()
        self.group = events.job_group(self.job_id)
        # Closing before accept refuses the handshake (HTTP 403): no credentials, or not your job.
        if not self.authenticated() or await _visible_job(self.user, self.job_id) is None:
            await self.close()
            return
        # Join before reading the snapshot, so that nothing published in between is missed.
        await self.channel_layer.group_add(self.group, self.channel_name)
        await self.accept(self.accept_subprotocol())
        snapshot = await _snapshot(self.user, self.job_id)
        await self.forward(snapshot)

    async def job_event(self, message):
        await self.forward(message["event"])

    async def forward(self, event: dict | None) -> None:
        if event is None or not self.filter.admit(event):
            return
        await self.send_json(event)
        if self.filter.finished:
            await self.close()


class JobListConsumer(_AuthenticatedConsumer):
    """Every event of the user's jobs (operators who see all jobs: every job), after a snapshot of the latest 50."""

    async def connect(self):
        if not self.authenticated():
            await self.close()
            return
        sees_all = await database_sync_to_async(sees_all_jobs)(self.user)
        self.group = events.STAFF_GROUP if sees_all else events.owner_group(self.user.pk)
        self.filters = events.JobEventFilters()
        await self.channel_layer.group_add(self.group, self.channel_name)
        await self.accept(self.accept_subprotocol())
        await self.send_json({"type": "snapshot", "jobs": await _recent_jobs(self.user)})

    async def job_event(self, message):
        if self.filters.admit(message["event"]):
            await self.send_json(message["event"])
