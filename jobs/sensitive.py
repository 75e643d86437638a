"""Sensitive input fields: encrypted at rest, decrypted only by the worker, masked everywhere else.

A job type marks a field of its input model sensitive with
`Field(json_schema_extra={"sensitive": True})`. At enqueue the field's JSON value is replaced in
`Job.input` by `{"$encrypted": "<Fernet token>"}`; the runner decrypts it just before validating the
input for the handler; the API, live events, webhooks and the admin show "***".

Keys: JOBS_ENCRYPTION_KEYS, comma-separated Fernet keys. The first encrypts, every one decrypts
(MultiFernet), so a new key is put first, `manage.py jobs_reencrypt` re-encrypts stored input with
it, and the old key is removed afterwards. With no key set a key is derived from SECRET_KEY, in
development (DEBUG) only; with DEBUG off, startup fails when a job type has sensitive fields.
"""
from __future__ import annotations

import base64
import functools
import hashlib
import json
from typing import Any

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

from .errors import PermanentError

MASK = "***"
ENCRYPTED = "$encrypted"


def sensitive_fields(input_model: type) -> frozenset[str]:
    """Names of the fields the model marks with json_schema_extra={"sensitive": True}."""
    return frozenset(
        name
        for name, info in getattr(input_model, "model_fields", {}).items()
        if isinstance(info.json_schema_extra, dict) and info.json_schema_extra.get("sensitive")
    )


def development_key(secret_key: str) -> bytes:
    return base64.urlsafe_b64encode(hashlib.sha256(b"jobs-encryption:" + secret_key.encode()).digest())


@functools.cache
def _cipher(keys: tuple[str, ...], debug: bool, secret_key: str) -> MultiFernet:
    if not keys:
        if not debug:
            raise ImproperlyConfigured("JOBS_ENCRYPTION_KEYS must be set when DEBUG is off (job types have sensitive fields).")
        return MultiFernet([Fernet(development_key(secret_key))])
    try:
        return MultiFernet([Fernet(key.encode()) for key in keys])
    except ValueError as exc:
        raise ImproperlyConfigured(f"JOBS_ENCRYPTION_KEYS holds a key that is not a Fernet key: {exc}") from None


def cipher() -> MultiFernet:
    return _cipher(tuple(settings.JOBS_ENCRYPTION_KEYS), settings.DEBUG, settings.SECRET_KEY)


def keys_check(job_types) -> None:
    """Fail fast at startup: sensitive fields without a usable key."""
    if any(sensitive_fields(jt.input_model) for jt in job_types):
        cipher()


def is_encrypted(value: Any) -> bool:
    return isinstance(value, dict) and set(value) == {ENCRYPTED}


def text_encrypt(value: str) -> str:
    """A secret string as stored (a Fernet token under the first key), for apps' own secrets."""
    return cipher().encrypt(value.encode()).decode()


def text_decrypt(token: str) -> str:
    """The secret string; raises cryptography's InvalidToken when no configured key opens it."""
    return cipher().decrypt(token.encode()).decode()


def text_reencrypt(token: str) -> str:
    return cipher().rotate(token.encode()).decode()


# What `manage.py jobs_reencrypt` re-encrypts besides job input: apps register a function
# (returning how many values it re-encrypted) from AppConfig.ready.
REENCRYPTERS: dict[str, Any] = {}


def on_reencrypt(name: str, reencrypt) -> None:
    REENCRYPTERS[name] = reencrypt


def input_encrypt(input_model: type, data: dict) -> dict:
    """The input as stored: each sensitive field's JSON value encrypted."""
    fields = sensitive_fields(input_model)
    return {
        key: {ENCRYPTED: cipher().encrypt(json.dumps(value).encode()).decode()} if key in fields else value
        for key, value in data.items()
    }


def input_decrypt(data: Any) -> Any:
    """The input as the handler needs it (worker only). A token no configured key opens is a
    permanent error: retrying cannot find the key."""
    if not isinstance(data, dict):
        return data
    try:
        return {
            key: json.loads(cipher().decrypt(value[ENCRYPTED].encode())) if is_encrypted(value) else value
            for key, value in data.items()
        }
    except InvalidToken:
        raise PermanentError("A sensitive input field cannot be decrypted with the configured JOBS_ENCRYPTION_KEYS.") from None


def input_mask(data: Any) -> Any:
    """The input as the API, live events, webhooks, the admin and logs show it."""
    if not isinstance(data, dict):
        return data
    return {key: MASK if is_encrypted(value) else value for key, value in data.items()}


def input_reencrypt(data: Any) -> tuple[Any, bool]:
    """The input with every token re-encrypted under the first key; whether anything changed."""
    if not isinstance(data, dict) or not any(is_encrypted(v) for v in data.values()):
        return data, False
    return {
        key: {ENCRYPTED: cipher().rotate(value[ENCRYPTED].encode()).decode()} if is_encrypted(value) else value
        for key, value in data.items()
    }, True


def jobs_reencrypt(batch: int = 500) -> int:
    """Re-encrypt the sensitive input of every job under the first key, so that older keys can be
    removed afterwards; audited. Safe to run again, and beside running workers (every key still
    decrypts until it is removed)."""
    from django.db import transaction

    from .models import Job
    from .engine.audit import audit_record

    changed = 0
    last_id = ""
    while True:
        with transaction.atomic():
            rows = list(Job.objects.select_for_update().filter(id__gt=last_id).order_by("id").values_list("id", "input")[:batch])
            for job_id, data in rows:
                new, did = input_reencrypt(data)
                if did:
                    Job.objects.filter(id=job_id).update(input=new)
                    changed += 1
        if len(rows) < batch:
            break
        last_id = rows[-1][0]
    audit_record(actor=None, action="jobs.reencrypt", target="jobs.input", details={"jobs": changed})
    return changed
