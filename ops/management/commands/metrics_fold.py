"""Fold the metrics' settled minutes now: after upgrading a service with a long history, run it
once before the web tier takes scrapes, so the first fold (one pass over the history) is not done
inside a request."""
from __future__ import annotations

import time

from django.core.management.base import BaseCommand

from ops.models import MetricsFolded
from ops.rollups import fold


class Command(BaseCommand):
    help = "Fold the settled minutes of job history into the metrics' totals (safe to run at any time)."

    def handle(self, *args, **options):
        started = time.monotonic()
        folded = fold()
        through = MetricsFolded.objects.values_list("through", flat=True).first()
        verb = "Folded" if folded else "Nothing due (or another process is folding); folded"
        self.stdout.write(f"{verb} through {through.isoformat() if through else '-'} in {time.monotonic() - started:.1f} s.")
