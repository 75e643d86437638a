"""Batches: one broadcast job fans out into child jobs of at most 100 recipients."""
from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model

from jobs.engine import actions, batches, running, submission
from jobs.context import JobContext
from jobs.errors import ActionForbidden
from jobs.models import AuditEvent, Job, JobStatus
from notifications.models import SentEmail

from ..conftest import wait_for_job


def make_recipients(count: int) -> list[int]:
    User = get_user_model()
    User.objects.bulk_create([User(username=f"reader{i}", email=f"reader{i}@example.com") for i in range(count)])
    return list(User.objects.filter(username__startswith="reader").values_list("id", flat=True))


def broadcast(owner, **input) -> Job:
    return submission.job_enqueue(owner=owner, type_name="notifications.broadcast",
                                input={"template": "welcome", **input})


@pytest.mark.worker
def test_a_broadcast_to_250_users_makes_3_parts_and_250_emails(worker, staff_user):
    recipients = make_recipients(250)

    parent = wait_for_job(broadcast(staff_user, user_ids=recipients).id, timeout=120)

    assert parent.status == JobStatus.COMPLETED and parent.progress == 100
    children = Job.objects.filter(parent=parent)
    assert sorted(len(child.input["user_ids"]) for child in children) == [50, 100, 100]
    assert set(children.values_list("status", flat=True)) == {JobStatus.COMPLETED}
    assert SentEmail.objects.filter(status=SentEmail.Status.SENT, user_id__in=recipients).count() == 250
    assert parent.output["sent"] == 250 and parent.output["skipped"] == 0 and parent.output["failed"] == 0
    assert parent.output["parts"] == {"completed": 3, "failed": 0, "cancelled": 0}


@pytest.mark.worker
def test_all_active_skips_inactive_users_and_only_holders_of_the_permission_may_broadcast(worker, staff_user, user):
    make_recipients(3)
    get_user_model().objects.filter(username="reader0").update(is_active=False)

    parent = wait_for_job(broadcast(staff_user, user_ids="all_active").id, timeout=60)
    with pytest.raises(ActionForbidden):
        broadcast(user, user_ids="all_active")

    # Recipients: reader1 and reader2 (reader0 is inactive; the test users have no address).
    assert parent.status == JobStatus.COMPLETED and parent.output["sent"] == parent.output["recipients"] == 2
    assert Job.objects.filter(owner=user).count() == 0
    # Every part is audited as a submission of the broadcaster's, naming its parent.
    parts = Job.objects.filter(parent=parent)
    audited = AuditEvent.objects.filter(action="job.enqueue", job__in=parts, actor=staff_user)
    assert parts.count() == audited.count() == 1
    assert audited.get().details["parent"] == parent.id


@pytest.fixture
def running_parent(staff_user):
    job = broadcast(staff_user, user_ids=[1])
    return running.job_claim(job.id, 1)


def part(index: int) -> dict:
    return {"user_ids": [index], "template": "welcome", "context": {}, "dedupe_key": "k"}


@pytest.mark.django_db
def test_children_are_created_in_bulk_and_only_once(running_parent, django_assert_max_num_queries):
    ctx = JobContext(running_parent, 1)
    # A constant number whatever the count: the fence, the check for earlier children, one INSERT
    # of the children and one of their audit events (SQLite adds its transaction's statements).
    with django_assert_max_num_queries(7):
        assert ctx.spawn_children("notifications.send_email_batch", [part(i) for i in range(40)]) == 40
    with django_assert_max_num_queries(7):
        assert ctx.spawn_children("notifications.send_email_batch", [part(i) for i in range(40)]) == 40
    assert Job.objects.filter(parent=running_parent).count() == 40


@pytest.mark.django_db
def test_parent_progress_is_the_share_of_children_finished(running_parent):
    ctx = JobContext(running_parent, 1)
    ctx.spawn_children("notifications.send_email_batch", [part(i) for i in range(4)])
    batches.job_await_children(running_parent.id, 1, running_parent.claim_id, {"recipients": 4}, duration_ms=1)
    children = list(Job.objects.filter(parent=running_parent).order_by("id"))

    Job.objects.filter(id=children[0].id).update(status=JobStatus.COMPLETED, output={"sent": 1})
    batches.job_batch_refresh(running_parent.id)
    assert Job.objects.get(id=running_parent.id).progress == 25

    Job.objects.filter(id__in=[c.id for c in children[1:]]).update(status=JobStatus.COMPLETED, output={"sent": 1})
    batches.job_batch_refresh(running_parent.id)
    parent = Job.objects.get(id=running_parent.id)
    assert parent.status == JobStatus.COMPLETED and parent.progress == 100
    assert parent.output["sent"] == 4 and parent.output["recipients"] == 4


@pytest.mark.django_db
def test_cancelling_the_parent_cancels_children_that_have_not_started(running_parent, staff_user):
    JobContext(running_parent, 1).spawn_children("notifications.send_email_batch", [part(i) for i in range(3)])
    first, *rest = Job.objects.filter(parent=running_parent).order_by("id")
    running.job_claim(first.id, 1)

    actions.job_cancel(running_parent, actor=staff_user)

    assert Job.objects.get(id=first.id).status == JobStatus.RUNNING, "a running child finishes"
    assert {job.status for job in Job.objects.filter(id__in=[j.id for j in rest])} == {JobStatus.CANCELLED}
