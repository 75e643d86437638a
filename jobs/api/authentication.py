"""API token authentication (REST API and WebSockets): DRF's, with its lookup written out and the
verified tokens of the last minute kept in each web process.

A token seen before is taken from the process's memory once one Redis GET says that no token or
user has changed since it was read: every save or delete of a Token or a user gives the shared
"auth epoch" a new random value (on the spot and again when the transaction commits), and a
remembered token counts only under the epoch it was read under. So deleting a token or
deactivating a user through the ORM (the admin, DRF, `user.save()`) reaches every process at its
next request. Changes the ORM does not signal (`QuerySet.update`, SQL by hand) call
`auth_epoch_bump()`, or wait out JOBS_TOKEN_CACHE_SECONDS, the most a token is trusted from
memory (also what bounds a bump lost while Redis was down). When Redis cannot answer, every
request reads the database, as before."""
from __future__ import annotations

import functools
import logging
import time
import uuid

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.cache import cache
from django.db import connection, transaction
from django.db.models.signals import post_delete, post_save
from django.utils.translation import gettext_lazy as _
from redis.exceptions import RedisError
from rest_framework import authentication, exceptions
from rest_framework.authtoken.models import Token

from common.cache import cache_redis

from ..store import rows

logger = logging.getLogger(__name__)

_EPOCH_KEY = "jobs:auth-epoch"
_REMEMBERED_MAX = 10_000
# key -> (the token's row with its user's, the epoch it was read under, when, on the monotonic clock)
_remembered: dict[str, tuple[tuple, str, float]] = {}


class TokenAuthentication(authentication.TokenAuthentication):
    """`Authorization: Token <key>`, exactly as DRF checks it (an unknown key or an inactive user
    is refused), with the token and its user read by `token_with_user_remembered`."""

    def authenticate_credentials(self, key: str):
        token = token_with_user_remembered(key)
        if token is None:
            raise exceptions.AuthenticationFailed(_("Invalid token."))
        if not token.user.is_active:
            raise exceptions.AuthenticationFailed(_("User inactive or deleted."))
        return token.user, token


def token_with_user_remembered(key: str) -> Token | None:
    """`token_with_user`, from this process's memory when the auth epoch has not moved since the
    token was read (see above). Each call builds new instances: a request may cache permissions
    on its user."""
    epoch = auth_epoch()
    remembered = _remembered.get(key)
    if epoch is not None and remembered is not None:
        row, read_under, read_at = remembered
        if read_under == epoch and time.monotonic() - read_at < settings.JOBS_TOKEN_CACHE_SECONDS:
            return _token_from_row(row)
    row = _token_row(key)
    if row is None:
        return None
    if epoch is not None and settings.JOBS_TOKEN_CACHE_SECONDS > 0:
        if len(_remembered) >= _REMEMBERED_MAX:
            _remembered.clear()
        _remembered[key] = (row, epoch, time.monotonic())
    return _token_from_row(row)


def auth_epoch() -> str | None:
    """The current auth epoch, one GET; None when Redis cannot answer (then nothing is trusted from
    memory). A missing epoch (Redis emptied) is given a new value: never an old one, under which
    a revoked token might have been remembered."""
    key = cache.make_key(_EPOCH_KEY)
    try:
        client = cache_redis(key)
        epoch = client.get(key)
        if epoch is None:
            client.set(key, uuid.uuid4().hex, nx=True)
            return None
        return epoch.decode()
    except (RedisError, OSError):
        return None


def auth_epoch_bump() -> None:
    """Every token remembered by any process is read again from the database at its next use."""
    key = cache.make_key(_EPOCH_KEY)
    try:
        cache_redis(key).set(key, uuid.uuid4().hex)
    except (RedisError, OSError):
        logger.warning("Could not bump the auth epoch; remembered tokens expire within %s s.",
                       settings.JOBS_TOKEN_CACHE_SECONDS, exc_info=True)


def _tokens_changed(**kwargs) -> None:
    # Now, and again at commit: a request between the two may have remembered the old rows.
    auth_epoch_bump()
    transaction.on_commit(auth_epoch_bump)


def connect_auth_epoch_signals() -> None:
    for model in (Token, get_user_model()):
        post_save.connect(_tokens_changed, sender=model, dispatch_uid=f"auth-epoch-save-{model._meta.label}")
        post_delete.connect(_tokens_changed, sender=model, dispatch_uid=f"auth-epoch-delete-{model._meta.label}")


def token_with_user(key: str) -> Token | None:
    """The API token with this key, its user loaded, by one statement compiled once per process
    (DRF's select_related query was compiled again for every request: a tenth of a submit)."""
    row = _token_row(key)
    return None if row is None else _token_from_row(row)


def _token_row(key: str) -> tuple | None:
    # A key that no token could have (tokens are 40 letters and digits) is not looked up at all.
    if not (key.isascii() and key.isalnum() and len(key) <= 40):
        return None
    with connection.cursor() as cursor:
        cursor.execute(_token_lookup(), [key])
        return cursor.fetchone()


def _token_from_row(row: tuple) -> Token:
    token, rest = rows.model_from_row(Token, row)
    token.user, _rest = rows.model_from_row(get_user_model(), rest)
    return token


@functools.cache
def _token_lookup() -> str:
    quote, user = connection.ops.quote_name, get_user_model()._meta
    token_user = Token._meta.get_field("user")
    return (
        f"SELECT {rows.columns(Token, 't')}, {rows.columns(get_user_model(), 'u')} "
        f"FROM {quote(Token._meta.db_table)} t JOIN {quote(user.db_table)} u "
        f"ON u.{quote(user.pk.column)} = t.{quote(token_user.column)} "
        f"WHERE t.{quote(Token._meta.pk.column)} = %s"
    )
