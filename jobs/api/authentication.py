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

from django.apps import apps
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
    is refused), with the token and its user read by `token_with_user_remembered`.

    A submit asks Redis for the auth epoch in the same round trip as its rate limit
    (jobs/api/throttling.py): on a view whose POST that throttle limits, a remembered token is
    taken as it is here and checked against the epoch there, before the view runs."""

    def authenticate(self, request):
        self.request = request
        return super().authenticate(request)

    def authenticate_credentials(self, key: str):
        token, request = None, getattr(self, "request", None)
        if request is not None and _submit_throttle_checks_epoch(request):
            row, read_under = _remembered_row(key)
            token = row and _token_from_row(row)
            if token is not None and token.user.is_active:
                request.auth_epoch_to_check = (key, read_under)
            else:
                token = None  # (a user remembered inactive may have been reactivated since)
        if token is None:
            token = token_with_user_remembered(key)
        return _user_and_token(token)


def _user_and_token(token: Token | None):
    if token is None:
        raise exceptions.AuthenticationFailed(_("Invalid token."))
    if not token.user.is_active:
        raise exceptions.AuthenticationFailed(_("User inactive or deleted."))
    return token.user, token


def _submit_throttle_checks_epoch(request) -> bool:
    from .throttling import SubmitRateThrottle

    view = (request.parser_context or {}).get("view")
    return request.method == "POST" and any(
        issubclass(throttle, SubmitRateThrottle) for throttle in getattr(view, "throttle_classes", ())
    )


def confirm_remembered_token(request, epoch: str | None) -> None:
    """For the submit throttle, which read the current auth `epoch` (None: Redis could not say):
    when the request's token was taken from memory under another epoch, read it again, and
    refuse the request if it no longer authenticates."""
    check = getattr(request, "auth_epoch_to_check", None)
    if check is None:
        return
    key, read_under = check
    del request.auth_epoch_to_check
    if epoch is not None and epoch == read_under:
        return
    request.user, request.auth = _user_and_token(token_with_user_remembered(key, epoch))


def _remembered_row(key: str) -> tuple[tuple | None, str | None]:
    """The row of the token remembered under this key and the epoch it was read under, if read
    less than JOBS_TOKEN_CACHE_SECONDS ago. (Each use builds new instances from the row: a request
    may cache permissions on its user.)"""
    remembered = _remembered.get(key)
    if remembered is None or time.monotonic() - remembered[2] >= settings.JOBS_TOKEN_CACHE_SECONDS:
        return None, None
    return remembered[0], remembered[1]


_ASK = object()


def token_with_user_remembered(key: str, epoch: str | None = _ASK) -> Token | None:
    """`token_with_user`, from this process's memory when the auth epoch (asked of Redis unless
    given) has not moved since the token was read (see above)."""
    if settings.JOBS_TOKEN_CACHE_SECONDS <= 0:
        return token_with_user(key)
    if epoch is _ASK:
        epoch = auth_epoch()
    row, read_under = _remembered_row(key)
    if epoch is not None and row is not None and read_under == epoch:
        return _token_from_row(row)
    row = _token_row(key)
    if row is None:
        return None
    if epoch is not None:
        if len(_remembered) >= _REMEMBERED_MAX:
            _remembered.clear()
        _remembered[key] = (row, epoch, time.monotonic())
    return _token_from_row(row)


def auth_epoch_key() -> str:
    return cache.make_key(_EPOCH_KEY)


def auth_epoch() -> str | None:
    """The current auth epoch, one GET; None when Redis cannot answer (then nothing is trusted from
    memory). A missing epoch (Redis emptied) is given a new value: never an old one, under which
    a revoked token might have been remembered."""
    key = auth_epoch_key()
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
    key = auth_epoch_key()
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
    """On every model whose rows are tokens or users, proxies included: the admin edits tokens
    through DRF's TokenProxy, and Django names the proxy as the sender. (Not on every model: a
    delete receiver for all senders would cost every other model Django's fast deletes.)"""
    for model in apps.get_models():
        if model._meta.concrete_model in (Token, get_user_model()):
            label = model._meta.label
            post_save.connect(_tokens_changed, sender=model, dispatch_uid=f"auth-epoch-save-{label}")
            post_delete.connect(_tokens_changed, sender=model, dispatch_uid=f"auth-epoch-delete-{label}")


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
