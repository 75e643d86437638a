from django.apps import AppConfig
from django.db.models.signals import post_migrate
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
        post_migrate.connect(create_submit_permissions, sender=self)
        from .api.authentication import connect_auth_epoch_signals

        connect_auth_epoch_signals()


def create_submit_permissions(using: str = "default", **kwargs) -> None:
    """After migrate, like Django's own permissions: one jobs.submit_<type> permission per job type
    that only its holders may submit, so that it can be granted in the admin."""
    from django.contrib.auth.models import Permission
    from django.contrib.contenttypes.models import ContentType

    from .authorization import Submitters, submit_permission_codename
    from .models import Job
    from .registry import all_job_types

    content_type = ContentType.objects.db_manager(using).get_for_model(Job, for_concrete_model=True)
    for job_type in all_job_types():
        if job_type.submitters is Submitters.PERMISSION:
            Permission.objects.db_manager(using).get_or_create(
                content_type=content_type, codename=submit_permission_codename(job_type.name),
                defaults={"name": f"Can submit {job_type.name} jobs"},
            )
