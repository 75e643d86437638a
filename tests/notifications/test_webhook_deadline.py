"""WEBHOOK_TIMEOUT is a deadline for the whole try, in this process against real sockets on loopback:
a receiver that trickles its answer cannot hold a try longer by sending a byte now and then."""
from __future__ import annotations

import socket
import ssl
import threading
import time

import pytest

from notifications.models import WebhookDelivery
from common.ssrf import TryDeadline
from notifications.webhooks import webhook_send

from .receiver import Receiver

SECRET = "whsec_" + "A" * 44


@pytest.fixture(autouse=True)
def one_second_tries(settings):
    settings.WEBHOOK_TIMEOUT = 1
    settings.WEBHOOK_ALLOW_PRIVATE_NETWORKS = True


class TrickleServer:
    """Reads the start of each request (or the TLS ClientHello), sends `opening`, then `drip` every
    0.4 s until the client goes away or the server is closed."""

    def __init__(self, opening: bytes, drip: bytes) -> None:
        self.opening, self.drip = opening, drip
        self.closed = threading.Event()
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.listener.settimeout(0.1)
        self.port = self.listener.getsockname()[1]
        threading.Thread(target=self._serve, daemon=True).start()

    def close(self) -> None:
        self.closed.set()

    def _serve(self) -> None:
        with self.listener:
            while not self.closed.is_set():
                try:
                    conn, _ = self.listener.accept()
                except TimeoutError:
                    continue
                threading.Thread(target=self._trickle, args=(conn,), daemon=True).start()

    def _trickle(self, conn: socket.socket) -> None:
        with conn:
            try:
                conn.recv(65536)
                conn.sendall(self.opening)
                while not self.closed.wait(0.4):
                    conn.sendall(self.drip)
            except OSError:
                pass


@pytest.mark.parametrize(
    "opening, drip",
    [
        (b"HTTP/1.1 200 OK\r\n", b"X-Trickle: 1\r\n"),  # one header line at a time
        (b"HTTP/1.1 200 OK\r\nContent-Length: 100000\r\n\r\n", b"x"),  # the body, one byte at a time
    ],
    ids=["headers", "body"],
)
def test_a_trickling_receiver_is_cut_off_at_the_deadline(opening, drip):
    server = TrickleServer(opening, drip)
    delivery = WebhookDelivery(url=f"http://127.0.0.1:{server.port}/hooks", payload={}, max_attempts=1)
    try:
        started = time.monotonic()
        result = webhook_send(delivery, [SECRET])
        took = time.monotonic() - started
    finally:
        server.close()

    assert took < 1.5
    assert result.status_code is None and not result.delivered
    assert result.error.startswith("Timed out after 1 s") and result.retryable


def test_a_receiver_that_answers_in_time_is_delivered():
    receiver = Receiver(200)
    try:
        result = webhook_send(WebhookDelivery(url=receiver.url, payload={"type": "job.completed"}, max_attempts=1), [SECRET])
    finally:
        receiver.close()

    assert result.delivered and result.response_excerpt == "answer 200" and result.error == ""
    assert len(receiver.requests) == 1


def test_the_deadline_still_cuts_a_socket_that_was_wrapped_in_tls_after_it_was_registered():
    # Given a connection registered with a deadline, then wrapped in TLS (which detaches the socket
    # object that was registered), whose peer never answers the handshake
    client, peer = socket.socketpair()
    with peer, TryDeadline(0.3) as deadline:
        deadline.register(client)
        started = time.monotonic()

        # When the handshake waits (without any socket timeout) past the deadline
        with pytest.raises(OSError):
            ssl.create_default_context().wrap_socket(client, server_hostname="example.com")

    # Then the watchdog ended it
    assert deadline.expired and time.monotonic() - started < 1
