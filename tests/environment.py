"""Loaded by pytest (-p tests.environment) before Django: test-only environment defaults."""
from __future__ import annotations

import atexit
import os
import secrets
import shutil
import tempfile
from pathlib import Path

os.environ.setdefault("SECRET_KEY", secrets.token_urlsafe(32))
# Production requires encryption keys; the test process and its workers share this one.
if not os.environ.get("JOBS_ENCRYPTION_KEYS"):
    from cryptography.fernet import Fernet

    os.environ["JOBS_ENCRYPTION_KEYS"] = Fernet.generate_key().decode()
# Load tests (1,000 POSTs) and the fuzzer submit far above the production rate; throttle tests lower it.
os.environ.setdefault("JOBS_SUBMIT_RATE", "100000/min")

# Result files go to a throwaway folder that the test process and its worker processes share.
if not os.environ.get("MEDIA_ROOT"):
    os.environ["MEDIA_ROOT"] = tempfile.mkdtemp(prefix="jobs-test-media-")
    atexit.register(shutil.rmtree, os.environ["MEDIA_ROOT"], True)

# Worker processes mail to files here, so tests can read what a job sent (pytest-django gives the
# test process itself the in-memory backend).
if not os.environ.get("EMAIL_FILE_PATH"):
    os.environ["EMAIL_BACKEND"] = "django.core.mail.backends.filebased.EmailBackend"
    os.environ["EMAIL_FILE_PATH"] = tempfile.mkdtemp(prefix="jobs-test-mail-")
    atexit.register(shutil.rmtree, os.environ["EMAIL_FILE_PATH"], True)

if not os.environ.get("REDIS_URL"):
    # Plain `pytest` with no REDIS_URL gets the same embedded Redis as `python3 dev.py test`.
    from config import embedded_redis

    _redis, os.environ["REDIS_URL"] = embedded_redis.start(Path(os.environ.get("VAR_DIR", "var")) / "test-redis")
    atexit.register(_redis.terminate)
