"""Pieces the engine (jobs) and the apps built on it (notifications, reports, schedules, ops) both
use: no Django app of its own, and it imports none of ours."""
