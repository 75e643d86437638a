"""Re-encrypt what is stored under JOBS_ENCRYPTION_KEYS (sensitive job input, and what apps
register, such as webhook signing secrets) under the first key (key rotation)."""
from __future__ import annotations

from django.core.management.base import BaseCommand

from jobs.sensitive import REENCRYPTERS, jobs_reencrypt


class Command(BaseCommand):
    help = "Re-encrypt sensitive job input and registered secrets with the first JOBS_ENCRYPTION_KEYS key."

    def handle(self, *args, **options):
        changed = jobs_reencrypt()
        self.stdout.write(f"Re-encrypted the sensitive input of {changed} job(s).")
        for name, reencrypt in REENCRYPTERS.items():
            self.stdout.write(f"Re-encrypted {reencrypt()} {name}.")
