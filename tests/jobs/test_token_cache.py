"""API tokens remembered by each web process (jobs/api/authentication.py): a token seen before
costs no database read, and a token deleted or a user deactivated is refused at the next request,
in this process and in a running server."""
from __future__ import annotations

import pytest
import redis
import requests
from django.contrib.auth import get_user_model
from django.core.cache import cache
from rest_framework.authtoken.models import Token
from rest_framework.exceptions import AuthenticationFailed

from jobs.api import authentication
from jobs.api.authentication import TokenAuthentication, auth_epoch_bump, token_with_user_remembered

from ..support import free_port


@pytest.fixture
def token(user):
    token = Token.objects.create(user=user)
    authentication.auth_epoch()  # an epoch exists (a first read after Redis was emptied sets it)
    return token


def authenticate(key: str):
    return TokenAuthentication().authenticate_credentials(key)


@pytest.mark.django_db
def test_a_token_seen_before_reads_no_database_and_gives_each_request_its_own_user(token, django_assert_num_queries):
    with django_assert_num_queries(1):
        first, _ = authenticate(token.key)
    with django_assert_num_queries(0):
        second, auth = authenticate(token.key)
    assert second.pk == first.pk == token.user.pk and auth.key == token.key
    assert second is not first, "a request may cache permissions on its user: not shared"


@pytest.mark.django_db
def test_a_deleted_token_is_refused_at_once(token):
    key = token.key
    authenticate(key)
    token.delete()
    with pytest.raises(AuthenticationFailed, match="Invalid token"):
        authenticate(key)


@pytest.mark.django_db
def test_a_deactivated_user_is_refused_at_once(token):
    authenticate(token.key)
    token.user.is_active = False
    token.user.save()
    with pytest.raises(AuthenticationFailed, match="inactive"):
        authenticate(token.key)


@pytest.mark.django_db
def test_a_change_the_orm_does_not_signal_counts_once_the_epoch_is_bumped(token):
    authenticate(token.key)
    get_user_model().objects.filter(pk=token.user.pk).update(is_active=False)
    authenticate(token.key)  # remembered: QuerySet.update sends no signal
    auth_epoch_bump()
    with pytest.raises(AuthenticationFailed, match="inactive"):
        authenticate(token.key)


@pytest.mark.django_db
def test_nothing_is_trusted_from_memory_once_redis_lost_the_epoch(token, django_assert_num_queries):
    authenticate(token.key)
    key = cache.make_key("jobs:auth-epoch")
    authentication.cache_redis(key).delete(key)  # Redis restarted empty
    with django_assert_num_queries(1):
        authenticate(token.key)


@pytest.mark.django_db
def test_a_token_is_trusted_from_memory_for_at_most_the_setting(token, settings, django_assert_num_queries):
    authenticate(token.key)
    settings.JOBS_TOKEN_CACHE_SECONDS = 0
    with django_assert_num_queries(1):
        authenticate(token.key)


@pytest.mark.django_db
def test_with_redis_unreachable_every_token_is_read_from_the_database(token, monkeypatch, django_assert_num_queries):
    unreachable = redis.Redis(port=free_port(), socket_connect_timeout=1)
    monkeypatch.setattr(authentication, "cache_redis", lambda key=None: unreachable)
    for _ in range(2):
        with django_assert_num_queries(1):
            user, _ = authenticate(token.key)
        assert user.pk == token.user.pk
    key = token.key
    token.delete()  # the bump fails too: logged, and the token is read (and refused) all the same
    assert token_with_user_remembered(key) is None


def test_a_running_server_refuses_a_token_deleted_or_a_user_deactivated_elsewhere(asgi_server, transactional_db, user, other_user):
    def status(token, method) -> int:
        return requests.request(method, f"{asgi_server.url}/api/jobs/", headers={"Authorization": f"Token {token.key}"},
                                json=SLEEP, timeout=10).status_code

    token, other = Token.objects.create(user=user), Token.objects.create(user=other_user)
    for _ in range(3):  # each of the server's processes has seen them
        assert status(token, "GET") == status(other, "GET") == 200
        assert status(token, "POST") == status(other, "POST") == 202
    Token.objects.filter(pk=token.pk).delete()
    other_user.is_active = False
    other_user.save()
    for method in ("POST", "GET"):
        assert status(token, method) == status(other, method) == 401


SLEEP = {"type": "diagnostics.sleep", "input": {"seconds": 0}}


def token_api(token):
    from rest_framework.test import APIClient

    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {token.key}")
    return client


@pytest.mark.django_db
def test_a_submit_checks_a_remembered_token_in_its_throttle_round_trip(token):
    """The submit throttle's script returns the auth epoch: a remembered token costs a submit no
    database read and no round trip of its own."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    api = token_api(token)
    assert api.post("/api/jobs/", SLEEP, format="json").status_code == 202
    with CaptureQueriesContext(connection) as queries:
        assert api.post("/api/jobs/", SLEEP, format="json").status_code == 202
    assert not [q for q in queries.captured_queries if "authtoken" in q["sql"]]


@pytest.mark.django_db
@pytest.mark.parametrize("revoke", ["delete token", "deactivate user", "bump by hand"])
def test_a_submit_with_a_remembered_token_revoked_since_is_refused_and_stores_nothing(token, revoke):
    from jobs.models import Job

    api = token_api(token)
    assert api.post("/api/jobs/", SLEEP, format="json").status_code == 202
    if revoke == "delete token":
        Token.objects.filter(pk=token.pk).delete()
    elif revoke == "deactivate user":
        token.user.is_active = False
        token.user.save()
    else:
        get_user_model().objects.filter(pk=token.user.pk).update(is_active=False)
        auth_epoch_bump()
    refused = api.post("/api/jobs/", SLEEP, format="json")
    assert refused.status_code == 401 and "WWW-Authenticate" in refused
    assert Job.objects.count() == 1


@pytest.mark.django_db
def test_a_submit_with_redis_unreachable_reads_the_token_from_the_database(token, monkeypatch):
    from jobs.api import throttling
    from jobs.models import Job

    api = token_api(token)
    assert api.post("/api/jobs/", SLEEP, format="json").status_code == 202  # remembered
    unreachable = redis.Redis(port=free_port(), socket_connect_timeout=1)
    for module in (authentication, throttling):
        monkeypatch.setattr(module, "cache_redis", lambda key=None: unreachable)
    get_user_model().objects.filter(pk=token.user.pk).update(is_active=False)  # no bump can say so
    assert api.post("/api/jobs/", SLEEP, format="json").status_code == 401
    assert Job.objects.count() == 1


@pytest.mark.django_db
def test_a_submit_after_redis_lost_the_epoch_reads_its_token_once_then_remembers_it(token, django_assert_max_num_queries):
    """Redis restarted empty: the throttle's script finds no epoch, gives it a new value, and that
    submit reads its token from the database; the next ones trust memory again."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    api = token_api(token)
    assert api.post("/api/jobs/", SLEEP, format="json").status_code == 202
    key = cache.make_key("jobs:auth-epoch")
    authentication.cache_redis(key).delete(key)
    for reads_token in (True, False, False):
        with CaptureQueriesContext(connection) as queries:
            assert api.post("/api/jobs/", SLEEP, format="json").status_code == 202
        assert any("authtoken" in q["sql"] for q in queries.captured_queries) == reads_token


@pytest.mark.django_db
def test_a_token_moved_to_another_user_through_the_admins_proxy_is_read_again(token, other_user):
    """The admin edits tokens through DRF's TokenProxy: its saves bump the epoch too."""
    from rest_framework.authtoken.models import TokenProxy

    first, _ = authenticate(token.key)
    proxied = TokenProxy.objects.get(pk=token.pk)
    proxied.user = other_user
    proxied.save()
    moved, _ = authenticate(token.key)
    assert first.pk == token.user.pk and moved.pk == other_user.pk


@pytest.mark.django_db
def test_a_reactivated_user_may_submit_again_at_once(token):
    api = token_api(token)
    token.user.is_active = False
    token.user.save()
    assert api.post("/api/jobs/", SLEEP, format="json").status_code == 401
    assert api.post("/api/jobs/", SLEEP, format="json").status_code == 401  # remembered inactive
    token.user.is_active = True
    token.user.save()
    assert api.post("/api/jobs/", SLEEP, format="json").status_code == 202


def test_the_epoch_signals_leave_other_models_their_fast_deletes():
    """Receivers for every sender would make Django collect every other model's rows one by one
    before deleting them (the cleanup's batches)."""
    from django.db.models import signals

    from jobs.models import AuditEvent, Job, JobAttempt

    for model in (Job, JobAttempt, AuditEvent):
        assert not signals.post_delete.has_listeners(model) and not signals.post_save.has_listeners(model), model
    assert signals.post_save.has_listeners(Token) and signals.post_delete.has_listeners(get_user_model())
