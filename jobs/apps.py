from django.apps import AppConfig
from django.utils.module_loading import autodiscover_modules


class JobsConfig(AppConfig):
    name = "jobs"
    verbose_name = "Jobs"

    def ready(self) -> None:
        # Every app's job_types.py registers its handlers, so adding a job type touches one file.
        autodiscover_modules("job_types")
        from .registry import all_job_types
        from .sensitive import keys_check

        # Fail at startup, not at the first submission, when sensitive fields have no key.
        keys_check(all_job_types())
