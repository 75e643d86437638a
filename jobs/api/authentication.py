"""API token authentication (REST API and WebSockets): DRF's, with its lookup written out."""
from __future__ import annotations

import functools

from django.contrib.auth import get_user_model
from django.db import connection
from django.utils.translation import gettext_lazy as _
from rest_framework import authentication, exceptions
from rest_framework.authtoken.models import Token

from ..store import rows


class TokenAuthentication(authentication.TokenAuthentication):
    """`Authorization: Token <key>`, exactly as DRF checks it (an unknown key or an inactive user
    is refused), with the token and its user read by `token_with_user`."""

    def authenticate_credentials(self, key: str):
        token = token_with_user(key)
        if token is None:
            raise exceptions.AuthenticationFailed(_("Invalid token."))
        if not token.user.is_active:
            raise exceptions.AuthenticationFailed(_("User inactive or deleted."))
        return token.user, token


def token_with_user(key: str) -> Token | None:
    """The API token with this key, its user loaded, by one statement compiled once per process
    (DRF's select_related query was compiled again for every request: a tenth of a submit). A key
    that no token could have (tokens are 40 letters and digits) is not looked up at all."""
    if not (key.isascii() and key.isalnum() and len(key) <= 40):
        return None
    with connection.cursor() as cursor:
        cursor.execute(_token_lookup(), [key])
        row = cursor.fetchone()
    if row is None:
        return None
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
