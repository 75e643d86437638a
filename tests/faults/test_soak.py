"""A short version of bench/soak.py: jobs with side effects submitted over HTTP for a minute while
workers are killed, Redis restarts empty twice, and a web server and a beat restart. Exact counts
at the end: nothing lost, nothing done twice, nothing stuck."""
from __future__ import annotations

import pytest
from django.db import connections
from rest_framework.authtoken.models import Token

from bench.soak import Soak

from ..support import database_url

pytestmark = pytest.mark.worker


def test_a_minute_of_chaos_loses_and_duplicates_nothing(transactional_db, user, tmp_path):
    if connections["default"].vendor == "sqlite":
        pytest.skip("a soak of many writing processes needs PostgreSQL (SQLite takes one writer at a time)")
    token = Token.objects.create(user=user).key
    soak = Soak(database_url(connections["default"].settings_dict), token, tmp_path, jobs=600, duration=60, workers=2)

    result = soak.run(clients=3, drain_timeout=240)

    faults = [f["what"] for f in result["faults"]]
    assert sum("worker killed" in f for f in faults) >= 1 and sum("Redis started" in f for f in faults) == 2, faults
    assert result["accepted"] == result["distinct_job_ids"] == 600
    assert result["stuck"] == 0 and result["terminal"] == 600
    assert result["completed"] == 600 and result["failed"] == 0
    assert result["effects"] == 600, "every side effect exactly once"
    assert result["jobs_completed_twice"] == 0
