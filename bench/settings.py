"""The service's settings with bench/bare_views.py's limits added to its URLs: the benchmark's
server only (bench/http_enqueue.py)."""
from config.settings import *  # noqa: F403

ROOT_URLCONF = "bench.bare_views"
