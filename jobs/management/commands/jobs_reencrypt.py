"""Re-encrypt sensitive job input under the first key of JOBS_ENCRYPTION_KEYS (key rotation)."""
from __future__ import annotations

from django.core.management.base import BaseCommand

from jobs.sensitive import jobs_reencrypt


class Command(BaseCommand):
    help = "Re-encrypt every stored sensitive input field with the first JOBS_ENCRYPTION_KEYS key."

    def handle(self, *args, **options):
        changed = jobs_reencrypt()
        self.stdout.write(f"Re-encrypted the sensitive input of {changed} job(s).")
