"""Where a webhook may go: http(s) only, never to a private, loopback, link-local, multicast or
reserved address (SSRF guard). Checked when the URL is submitted and again for the address a try
actually connects to, so DNS that changes in between (rebinding) cannot steer a try inside. Both
checks read the URL with the parser requests connects with. Submitting asks no DNS server (a lookup
would hold the request): a name's addresses are checked at each try, where every lookup is bounded
by WEBHOOK_DNS_TIMEOUT.

WEBHOOK_ALLOW_PRIVATE_NETWORKS=1 lifts the address check, for local development and tests only.
"""
from __future__ import annotations

import ipaddress
import os
import socket
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from functools import partial

import requests
from django.conf import settings
from django.core.exceptions import ValidationError
from requests.adapters import HTTPAdapter
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool
from urllib3.exceptions import ConnectTimeoutError, NewConnectionError
from urllib3.util import connection, parse_url

ALLOWED_SCHEMES = ("http", "https")
DEFAULT_PORTS = {"http": 80, "https": 443}
NAT64_PREFIX = ipaddress.IPv6Network("64:ff9b::/96")
# Local-use NAT64 (RFC 8215): the operator picks the prefix length, so where it leads is unknowable.
LOCAL_NAT64_PREFIX = ipaddress.IPv6Network("64:ff9b:1::/48")
IPV4_COMPATIBLE_PREFIX = ipaddress.IPv6Network("::/96")
DNS_THREADS = 4
# Names that never belong to a public host: refused when a webhook URL is submitted.
LOCAL_NAMES = ("localhost", "local", "invalid", "test", "example", "internal", "home.arpa")


class UnsafeWebhookTarget(ValueError):
    """The URL's host is not one a webhook may be sent to. A ValueError, not an OSError, so that
    urllib3 does not mistake it for a network fault and requests does not retry it."""


def address_is_public(address: str) -> bool:
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address):
        if ip in LOCAL_NAT64_PREFIX:
            return False
        embedded = embedded_ipv4(ip)
        if embedded:
            return all(_is_public(v4) for v4 in embedded)
    return _is_public(ip)


def embedded_ipv4(ip: ipaddress.IPv6Address) -> tuple[ipaddress.IPv4Address, ...]:
    """The IPv4 addresses that packets to `ip` end up at, for IPv6 addresses that carry one
    (mapped, 6to4, Teredo server and client, NAT64, IPv4-compatible); empty for the others."""
    if ip.ipv4_mapped:
        return (ip.ipv4_mapped,)
    if ip.sixtofour:
        return (ip.sixtofour,)
    if ip.teredo:
        return ip.teredo
    if ip in NAT64_PREFIX or ip in IPV4_COMPATIBLE_PREFIX:
        return (ipaddress.IPv4Address(int(ip) & 0xFFFF_FFFF),)
    return ()


def _is_public(ip: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    forbidden = ip.is_private or ip.is_loopback or ip.is_link_local or ip.is_multicast or ip.is_reserved or ip.is_unspecified
    # is_global also rules out shared address space (100.64.0.0/10) and other special ranges.
    return ip.is_global and not forbidden


def _new_resolver() -> None:
    global _resolver
    _resolver = ThreadPoolExecutor(DNS_THREADS, thread_name_prefix="webhook-dns")


# getaddrinfo cannot be interrupted: it runs on these few threads while the caller waits at most
# WEBHOOK_DNS_TIMEOUT. A forked child (a prefork worker) has none of its parent's threads.
_new_resolver()
os.register_at_fork(after_in_child=_new_resolver)


def resolve_checked(host: str, port: int, timeout: float | None = None) -> list[str]:
    """The addresses of `host` to connect to. Raises UnsafeWebhookTarget when the host does not
    resolve, or when any of its addresses is not public (unless private networks are allowed), and
    TimeoutError when the lookup takes longer than `timeout` seconds (default WEBHOOK_DNS_TIMEOUT)."""
    addresses = numeric_addresses(host, port)
    if addresses is None:
        timeout = settings.WEBHOOK_DNS_TIMEOUT if timeout is None else timeout
        lookup = _resolver.submit(socket.getaddrinfo, host, port, type=socket.SOCK_STREAM)
        try:
            infos = lookup.result(timeout)
        except TimeoutError:
            lookup.cancel()
            raise TimeoutError(f"The host {host!r} could not be resolved within {timeout:g} s.") from None
        except socket.gaierror as exc:
            if exc.errno == socket.EAI_AGAIN:  # the DNS server failed for now: worth another try
                raise TimeoutError(f"The host {host!r} could not be resolved for now ({exc}).") from None
            raise UnsafeWebhookTarget(f"The host {host!r} could not be resolved ({exc}).") from None
        except UnicodeError as exc:
            raise UnsafeWebhookTarget(f"The host {host!r} could not be resolved ({exc}).") from None
        addresses = list(dict.fromkeys(info[4][0] for info in infos))
    check_addresses(host, addresses)
    return addresses


def numeric_addresses(host: str, port: int) -> list[str] | None:
    """The address of a host written as one, in any form the connection would read (127.1, 0x7f.1,
    2130706433, [::1]), found without DNS; None for a host name."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_NUMERICHOST)
    except (socket.gaierror, UnicodeError, ValueError):
        return None
    return list(dict.fromkeys(info[4][0] for info in infos))


def check_addresses(host: str, addresses: list[str]) -> None:
    if settings.WEBHOOK_ALLOW_PRIVATE_NETWORKS:
        return
    for address in addresses:
        if not address_is_public(address):
            raise UnsafeWebhookTarget(
                f"The host {host!r} resolves to {address}, a private, loopback, link-local, multicast "
                "or reserved address; webhooks are only sent to public addresses."
            )


def is_public_name(host: str) -> bool:
    """Whether a host name may belong to a public host: it has a dot, and is not under a name that
    is never public (RFC 6761, 6762 and 8375, and ICANN's .internal)."""
    name = host.lower().rstrip(".")
    return "." in name and not any(name == suffix or name.endswith("." + suffix) for suffix in LOCAL_NAMES)


def webhook_target(url: str) -> tuple[str, int]:
    """The host and port a request to `url` connects to, read by the parser requests connects with,
    so that the submit-time check and the try agree (urlsplit reads `http://127.0.0.1:8080\\@example.com/`
    as example.com, requests as 127.0.0.1). Raises UnsafeWebhookTarget for URLs that parsers read
    differently or that carry credentials."""
    if any(char == "\\" or char.isspace() or not char.isprintable() for char in url):
        raise UnsafeWebhookTarget("Webhook URLs may not contain backslashes, whitespace or control characters.")
    try:
        parts = parse_url(requests.Request("POST", url).prepare().url)
    except ValueError:  # requests' InvalidURL and MissingSchema, urllib3's LocationParseError
        raise UnsafeWebhookTarget("The webhook URL is not valid.") from None
    if parts.scheme not in ALLOWED_SCHEMES or not parts.host:
        raise UnsafeWebhookTarget("Webhook URLs must be absolute http or https URLs.")
    if parts.auth is not None:
        raise UnsafeWebhookTarget("Webhook URLs may not contain a user name or password (user:password@).")
    # urllib3 connects to port 80/443 for port 0 too, and to IPv6 hosts without their brackets.
    return parts.host.strip("[]"), parts.port or DEFAULT_PORTS[parts.scheme]


def validate_webhook_url(url: str) -> None:
    """Validator for submitted webhook URLs (Django ValidationError, so DRF reports it per field).
    It asks no DNS server, since a lookup would hold the request: it checks the URL's form, an
    address written in it, and names that are never public. Where a host name leads is checked at
    each try, when the worker resolves it (resolve_checked)."""
    if not url:
        return
    try:
        host, port = webhook_target(url)
        addresses = numeric_addresses(host, port)
        if addresses is not None:
            check_addresses(host, addresses)
        elif not (settings.WEBHOOK_ALLOW_PRIVATE_NETWORKS or is_public_name(host)):
            raise UnsafeWebhookTarget(f"The host {host!r} is not a public host name; webhooks are only sent to public addresses.")
    except UnsafeWebhookTarget as exc:
        raise ValidationError(str(exc)) from None


class TryDeadline:
    """A total time limit for one webhook try: DNS, connect, TLS, the request and the answer.

    Socket timeouts restart with every byte, so a receiver that trickles its answer could hold a try
    for ever; when this deadline passes, a watchdog shuts down every socket registered with it,
    which ends whatever call is blocked on them. `expired` then tells the caller why."""

    def __init__(self, seconds: float) -> None:
        self.expired = False
        self._ends_at = time.monotonic() + seconds
        self._sockets: list[socket.socket] = []
        self._lock = threading.Lock()
        self._watchdog = threading.Timer(seconds, self._expire)
        self._watchdog.daemon = True

    def __enter__(self) -> TryDeadline:
        self._watchdog.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._watchdog.cancel()
        with self._lock:
            for sock in self._sockets:
                sock.close()

    def cap(self, seconds: float | None) -> float:
        """`seconds` (None: no limit), cut to the time left."""
        left = max(0.0, self._ends_at - time.monotonic())
        return left if seconds is None else min(seconds, left)

    def register(self, sock: socket.socket) -> None:
        # A duplicate, which shuts down the same connection: wrapping in TLS detaches `sock` itself.
        duplicate = sock.dup()
        with self._lock:
            self._sockets.append(duplicate)
            if self.expired:
                _shut_down(duplicate)

    def _expire(self) -> None:
        with self._lock:
            self.expired = True
            for sock in self._sockets:
                _shut_down(sock)


def _shut_down(sock: socket.socket) -> None:
    try:
        sock.shutdown(socket.SHUT_RDWR)
    except OSError:  # the peer has already gone
        pass


class _CheckedConnectionMixin:
    """Resolves the host itself, checks every address, and connects to a checked one. TLS still
    verifies the certificate against, and sends SNI for, the URL's host name. With a deadline, DNS
    and connect wait at most the time left, and the socket is registered for the watchdog."""

    def __init__(self, *args, deadline: TryDeadline | None = None, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.deadline = deadline

    def _new_conn(self) -> socket.socket:
        try:
            addresses = resolve_checked(self._dns_host, self.port, self._time_left(settings.WEBHOOK_DNS_TIMEOUT))
        except TimeoutError as exc:
            raise ConnectTimeoutError(self, str(exc)) from exc
        last_error: OSError | None = None
        for address in addresses:
            timeout = self._time_left(self.timeout)
            try:
                sock = connection.create_connection(
                    (address, self.port), timeout, source_address=self.source_address, socket_options=self.socket_options
                )
            except TimeoutError as exc:
                raise ConnectTimeoutError(self, f"Connection to {self.host} timed out (connect timeout={timeout}).") from exc
            except OSError as exc:
                last_error = exc
                continue
            if self.deadline:
                self.deadline.register(sock)
            return sock
        raise NewConnectionError(self, f"Failed to establish a new connection: {last_error}")

    def _time_left(self, seconds: float | None) -> float | None:
        return self.deadline.cap(seconds) if self.deadline else seconds


class CheckedHTTPConnection(_CheckedConnectionMixin, HTTPConnection):
    pass


class CheckedHTTPSConnection(_CheckedConnectionMixin, HTTPSConnection):
    pass


class CheckedHTTPConnectionPool(HTTPConnectionPool):
    ConnectionCls = CheckedHTTPConnection


class CheckedHTTPSConnectionPool(HTTPSConnectionPool):
    ConnectionCls = CheckedHTTPSConnection


class CheckedAdapter(HTTPAdapter):
    def __init__(self, deadline: TryDeadline | None = None, **kwargs) -> None:
        self.deadline = deadline  # init_poolmanager, called by HTTPAdapter.__init__, needs it
        super().__init__(**kwargs)

    def init_poolmanager(self, *args, **kwargs) -> None:
        super().init_poolmanager(*args, **kwargs)
        # The pools hand `deadline` on to each connection they open.
        self.poolmanager.pool_classes_by_scheme = {
            "http": partial(CheckedHTTPConnectionPool, deadline=self.deadline),
            "https": partial(CheckedHTTPSConnectionPool, deadline=self.deadline),
        }


def checked_session(deadline: TryDeadline | None = None) -> requests.Session:
    """A requests session that only connects to checked addresses and ignores proxy variables
    (a proxy would connect on our behalf, past the check). With a deadline, its connections are
    cut when it passes."""
    session = requests.Session()
    session.trust_env = False
    adapter = CheckedAdapter(deadline, max_retries=0)
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    return session
