"""The SSRF guard, in this process with the guard on: at submit time and at send time."""
from __future__ import annotations

import socket
import threading
import time

import pytest
import requests
from django.core.exceptions import ValidationError

from jobs.models import Job
from notifications.models import WebhookDelivery
from common.ssrf import address_is_public, validate_webhook_url, webhook_target
from notifications.webhooks import webhook_send

from ..notifications.receiver import Receiver

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def guard_on(settings):
    settings.WEBHOOK_ALLOW_PRIVATE_NETWORKS = False


@pytest.mark.parametrize(
    "address, public",
    [
        ("8.8.8.8", True),
        ("2606:4700:4700::1111", True),
        ("127.0.0.1", False),
        ("::1", False),
        ("10.1.2.3", False),
        ("172.16.0.1", False),
        ("192.168.1.1", False),
        ("169.254.169.254", False),
        ("fe80::1", False),
        ("fd00::1", False),
        ("100.64.0.1", False),
        ("224.0.0.1", False),
        ("240.0.0.1", False),
        ("0.0.0.0", False),
        ("::ffff:127.0.0.1", False),
        # IPv6 addresses that carry packets to an embedded IPv4 address are judged by that address.
        ("2002:7f00:1::1", False),  # 6to4 of 127.0.0.1
        ("2002:c0a8:101::1", False),  # 6to4 of 192.168.1.1
        ("2002:0808:0808::1", True),  # 6to4 of 8.8.8.8
        ("64:ff9b::7f00:1", False),  # NAT64 of 127.0.0.1
        ("64:ff9b::a00:1", False),  # NAT64 of 10.0.0.1
        ("64:ff9b::808:808", True),  # NAT64 of 8.8.8.8
        ("64:ff9b:1::808:808", False),  # local-use NAT64: where it leads is the operator's choice
        ("::7f00:1", False),  # IPv4-compatible 127.0.0.1
        ("::a00:1", False),  # IPv4-compatible 10.0.0.1
        ("2001:0:808:808:0:0:80ff:fffe", False),  # Teredo, server 8.8.8.8, client 127.0.0.1
        ("2001:0:7f00:1:0:0:f7f7:f7f7", False),  # Teredo, server 127.0.0.1, client 8.8.8.8
        ("2001:0:808:808:0:0:fefe:fefe", True),  # Teredo, server 8.8.8.8, client 1.1.1.1
    ],
)
def test_only_public_addresses_are_allowed(address, public):
    assert address_is_public(address) is public


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1/hook",
        "http://169.254.169.254/latest/meta-data/",
        "http://localhost:8000/hook",
        "http://[::1]/hook",
        "https://10.0.0.5/hook",
        "http://0.0.0.0/",
    ],
)
def test_submitting_a_private_webhook_url_answers_400(api, url):
    response = api.post("/api/jobs/", {"type": "diagnostics.sleep", "input": {}, "webhook_url": url}, format="json")

    assert response.status_code == 400
    [message] = response.json()["webhook_url"]
    assert "webhooks are only sent to public addresses" in message
    assert not Job.objects.exists()


def test_the_reports_endpoint_refuses_them_too(api):
    response = api.post(
        "/api/reports/generate",
        {"start_date": "2026-01-01", "end_date": "2026-01-02", "webhook_url": "http://169.254.169.254/"},
        format="json",
    )
    assert response.status_code == 400 and "webhook_url" in response.json()


@pytest.mark.parametrize("host", ["no-such-host.invalid", "printer.local", "db.internal", "intranet", "x.localhost"])
def test_a_name_that_is_never_public_is_refused(api, host):
    response = api.post(
        "/api/jobs/", {"type": "diagnostics.sleep", "webhook_url": f"https://{host}/hook"}, format="json"
    )
    assert response.status_code == 400 and "not a public host name" in response.json()["webhook_url"][0]


def test_a_host_that_does_not_resolve_fails_its_try_and_is_not_retried(user):
    delivery = WebhookDelivery(url="https://no-such-host.invalid/hook", payload={}, max_attempts=1)
    result = webhook_send(delivery, ["whsec_" + "A" * 44])
    assert "could not be resolved" in result.error and not result.retryable


def test_the_address_is_checked_again_when_sending(user):
    # Given a delivery to loopback that got past submission (e.g. DNS changed since)
    receiver = Receiver(200)
    try:
        job = Job.objects.create(owner=user, type="diagnostics.sleep", status="completed", webhook_url=receiver.url)
        delivery = WebhookDelivery.objects.create(job=job, event_type="job.completed", url=receiver.url, payload={}, max_attempts=1)

        # When a try is made with the guard on
        result = webhook_send(delivery, ["whsec_" + "A" * 44])
    finally:
        receiver.close()

    # Then nothing was sent, and the try is final
    assert receiver.requests == []
    assert result.error.startswith("Refused") and "127.0.0.1" in result.error and not result.retryable


# Tricky URLs, each aimed at loopback one way or another; `{port}` is filled in per test.
TRICKY_URLS = [
    ("http://127.0.0.1:{port}\\@example.com/", "backslashes"),  # urlsplit: example.com; requests: 127.0.0.1
    ("http://user:secret@127.0.0.1:{port}/", "user name or password"),
    ("http://example.com@127.0.0.1:{port}/", "user name or password"),
    ("http://0x7f.1:{port}/", "public addresses"),
    ("http://[::ffff:127.0.0.1]:{port}/", "public addresses"),
    ("http://127.1:{port}/", "public addresses"),
    ("http://2130706433:{port}/", "public addresses"),
    ("http://127.0.0.1:{port}/a b", "whitespace"),
    ("http://127.0.0.1:{port}/\x00", "control characters"),
]


@pytest.mark.parametrize("url, reason", TRICKY_URLS)
def test_tricky_urls_are_refused_when_submitted(url, reason):
    with pytest.raises(ValidationError) as refused:
        validate_webhook_url(url.format(port=8080))

    assert reason in refused.value.messages[0]


@pytest.mark.parametrize("url, reason", TRICKY_URLS)
def test_tricky_urls_are_refused_when_sent(url, reason):
    receiver = Receiver(200)
    try:
        delivery = WebhookDelivery(url=url.format(port=receiver.server.server_port), payload={}, max_attempts=1)
        result = webhook_send(delivery, ["whsec_" + "A" * 44])
    finally:
        receiver.close()

    assert receiver.requests == []
    assert result.error.startswith("Refused") and reason in result.error and not result.retryable


@pytest.mark.parametrize(
    "url",
    [
        "http://127.1/",
        "http://2130706433:8080/x",
        "http://[::ffff:127.0.0.1]:8080/",
        "HTTPS://Example.COM/hook",
        "http://bücher.example/",
        "http://example.com#@127.0.0.1/",
        "http://example.com?@127.0.0.1/",
        "http://example.com:0/",
    ],
)
def test_the_submit_check_reads_the_host_that_requests_connects_to(url):
    pool = requests.adapters.HTTPAdapter().get_connection_with_tls_context(
        requests.Request("POST", url).prepare(), verify=True
    )

    assert webhook_target(url) == (pool.host.strip("[]"), pool.port)


@pytest.fixture
def slow_dns(monkeypatch):
    """DNS lookups of hosts under slow.example.net hang until the test ends, then fail (reading a
    numeric address never asks DNS, so it goes through)."""
    real_getaddrinfo = socket.getaddrinfo
    released = threading.Event()

    def getaddrinfo(host, *args, **kwargs):
        if not str(host).endswith("slow.example.net") or kwargs.get("flags", 0) & socket.AI_NUMERICHOST:
            return real_getaddrinfo(host, *args, **kwargs)
        released.wait(30)
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    yield
    released.set()


def test_submitting_never_waits_on_dns(api, slow_dns):
    """The review's attack: a user's own slow DNS server must not hold the request, nor fill the
    lookup threads that everyone's submissions would wait on."""
    started = time.monotonic()

    answers = [api.post("/api/jobs/", {"type": "diagnostics.sleep", "webhook_url": f"https://h{n}.slow.example.net/"},
                        format="json").status_code for n in range(6)]
    literal = api.post("/api/jobs/", {"type": "diagnostics.sleep", "webhook_url": "https://8.8.8.8/hook"}, format="json")

    assert time.monotonic() - started < 1.5
    assert answers == [202] * 6 and literal.status_code == 202


@pytest.mark.parametrize("dns_timeout, try_timeout", [(0.3, 5), (5, 0.3)])
def test_a_slow_dns_lookup_at_send_time_is_a_retryable_timeout(settings, slow_dns, dns_timeout, try_timeout):
    # The lookup is bounded by WEBHOOK_DNS_TIMEOUT, and by what is left of the try's deadline.
    settings.WEBHOOK_DNS_TIMEOUT = dns_timeout
    settings.WEBHOOK_TIMEOUT = try_timeout
    delivery = WebhookDelivery(url="https://hooks.slow.example.net/", payload={}, max_attempts=1)
    started = time.monotonic()

    result = webhook_send(delivery, ["whsec_" + "A" * 44])

    assert time.monotonic() - started < 1.5
    assert result.error.startswith("Timed out") and result.retryable and result.status_code is None
