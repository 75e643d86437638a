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
    def status(token) -> int:
        return requests.get(f"{asgi_server.url}/api/jobs/", headers={"Authorization": f"Token {token.key}"}, timeout=10).status_code

    token, other = Token.objects.create(user=user), Token.objects.create(user=other_user)
    for _ in range(3):  # each of the server's processes has seen them
        assert status(token) == status(other) == 200
    Token.objects.filter(pk=token.pk).delete()
    other_user.is_active = False
    other_user.save()
    assert status(token) == status(other) == 401
