"""/metrics for Prometheus. A custom collector reads the database and the broker at scrape time,
so every web process answers the same figures however many workers there are, and nothing is
kept in process memory (no multiprocess mode, no counters lost on restart).

Counters and histograms come from the rollups (ops/rollups.py): totals of the folded minutes plus
the few unfolded ones, so a scrape costs the same with a month of history as with an hour, and a
counter only grows (the cleanup of old jobs does not lower it). Gauges count the active rows."""
from __future__ import annotations

import hmac

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.utils import timezone
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily

from jobs.authorization import VIEW_METRICS, is_operator
from jobs.models import JobStatus
from jobs.selectors import broker_queue_lengths, dead_letter_count

from . import rollups, selectors
from .rollups import BUCKET_LABELS
from .models import Alert

LABELS = ["type", "queue"]


def _histogram(name: str, documentation: str, data: dict) -> HistogramMetricFamily:
    family = HistogramMetricFamily(name, documentation, labels=LABELS)
    for labels, (counts, total) in sorted(data.items()):
        family.add_metric(list(labels), list(zip(BUCKET_LABELS, counts)), total)
    return family


def _by_labels(family, values: dict[tuple[str, str], int], every: set[tuple[str, str]]):
    for labels in sorted(every):
        family.add_metric(list(labels), values.get(labels, 0))
    return family


class JobsCollector:
    def collect(self):
        now = timezone.now()
        figures = rollups.totals(now)
        enqueued = selectors.counters(figures, "enqueued")
        completed = selectors.counters(figures, JobStatus.COMPLETED)
        failed = selectors.counters(figures, JobStatus.FAILED)
        running = selectors.running_counts()
        waiting = selectors.waiting_counts(now)
        every = set(enqueued) | set(running) | set(waiting)
        yield _by_labels(CounterMetricFamily("jobservice_jobs_enqueued", "Jobs submitted.", labels=LABELS), enqueued, every)
        yield _by_labels(CounterMetricFamily("jobservice_jobs_completed", "Jobs that completed.", labels=LABELS), completed, every)
        yield _by_labels(CounterMetricFamily("jobservice_jobs_failed", "Jobs that failed for good.", labels=LABELS), failed, every)
        yield _by_labels(GaugeMetricFamily("jobservice_jobs_running", "Jobs a worker is running now.", labels=LABELS), running, every)
        yield _by_labels(GaugeMetricFamily("jobservice_jobs_waiting", "Jobs due and waiting for a worker.", labels=LABELS), waiting, every)

        retries = selectors.counters(figures, "retries")
        yield _by_labels(CounterMetricFamily("jobservice_job_retries", "Attempts after the first (retries and replays).", labels=LABELS),
                         retries, set(retries))

        yield _histogram("jobservice_job_processing_seconds", "Duration of finished attempts.", selectors.histograms(figures, "processing"))
        yield _histogram("jobservice_job_waiting_seconds", "From due to the start of the first attempt.", selectors.histograms(figures, "waiting"))

        queue_length = GaugeMetricFamily("jobservice_queue_length", "Messages waiting in the broker queue.", labels=["queue"])
        for queue, length in sorted(broker_queue_lengths().items()):
            if length is not None:
                queue_length.add_metric([queue], length)
        yield queue_length

        yield GaugeMetricFamily("jobservice_dead_letters", "Failed jobs not yet replayed or discarded.", value=dead_letter_count())
        yield GaugeMetricFamily("jobservice_backlog", "Due jobs waiting for a worker.", value=sum(waiting.values()))

        deliveries = GaugeMetricFamily("jobservice_webhook_deliveries", "Webhook deliveries by status (in flight now; ended ever).", labels=["status"])
        for status, n in sorted(selectors.webhook_delivery_counts(figures).items()):
            deliveries.add_metric([status], n)
        yield deliveries
        tries = CounterMetricFamily("jobservice_webhook_attempts", "Webhook tries by outcome (2xx..5xx, error).", labels=["outcome"])
        for outcome, n in sorted(selectors.webhook_attempt_outcomes(figures).items()):
            tries.add_metric([outcome], n)
        yield tries

        alerts = GaugeMetricFamily("jobservice_alerts_active", "Active alerts by rule.", labels=["rule"])
        for rule in Alert.objects.filter(cleared_at__isnull=True).values_list("rule", flat=True):
            alerts.add_metric([rule], 1)
        yield alerts


registry = CollectorRegistry(auto_describe=False)
registry.register(JobsCollector())


def metrics_allowed(request: HttpRequest) -> bool:
    """A staff session with jobs.view_metrics, or `Authorization: Bearer <METRICS_TOKEN>` when
    METRICS_TOKEN is set."""
    if is_operator(request.user, VIEW_METRICS):
        return True
    token = settings.METRICS_TOKEN
    header = request.headers.get("Authorization", "")
    return bool(token) and header.startswith("Bearer ") and hmac.compare_digest(header[7:].encode(), token.encode())


def metrics_view(request: HttpRequest) -> HttpResponse:
    if not metrics_allowed(request):
        response = HttpResponse(f"A staff session with {VIEW_METRICS}, or the bearer token, is required.\n",
                                status=401, content_type="text/plain")
        response["WWW-Authenticate"] = 'Bearer realm="metrics"'
        return response
    return HttpResponse(generate_latest(registry), content_type=CONTENT_TYPE_LATEST)
