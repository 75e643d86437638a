"""Where a webhook may go: http(s) only, never to a private, loopback, link-local, multicast or
reserved address (SSRF guard). Checked when the URL is submitted and again for the address a try
actually connects to, so DNS that changes in between (rebinding) cannot steer a try inside.

WEBHOOK_ALLOW_PRIVATE_NETWORKS=1 lifts the address check, for local development and tests only.
"""
from __future__ import annotations

import ipaddress
import socket
from urllib.parse import urlsplit

import requests
from django.conf import settings
from django.core.exceptions import ValidationError
from requests.adapters import HTTPAdapter
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool
from urllib3.exceptions import ConnectTimeoutError, NewConnectionError
from urllib3.util import connection

ALLOWED_SCHEMES = ("http", "https")
DEFAULT_PORTS = {"http": 80, "https": 443}


class UnsafeWebhookTarget(ValueError):
    """The URL's host is not one a webhook may be sent to. A ValueError, not an OSError, so that
    urllib3 does not mistake it for a network fault and requests does not retry it."""


def address_is_public(address: str) -> bool:
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped:
        ip = ip.ipv4_mapped
    forbidden = ip.is_private or ip.is_loopback or ip.is_link_local or ip.is_multicast or ip.is_reserved or ip.is_unspecified
    # is_global also rules out shared address space (100.64.0.0/10) and other special ranges.
    return ip.is_global and not forbidden


def resolve_checked(host: str, port: int) -> list[str]:
    """The addresses of `host` to connect to. Raises UnsafeWebhookTarget when the host does not
    resolve, or when any of its addresses is not public (unless private networks are allowed)."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as exc:
        raise UnsafeWebhookTarget(f"The host {host!r} could not be resolved ({exc}).") from None
    addresses = list(dict.fromkeys(info[4][0] for info in infos))
    if not settings.WEBHOOK_ALLOW_PRIVATE_NETWORKS:
        for address in addresses:
            if not address_is_public(address):
                raise UnsafeWebhookTarget(
                    f"The host {host!r} resolves to {address}, a private, loopback, link-local, multicast "
                    "or reserved address; webhooks are only sent to public addresses."
                )
    return addresses


def validate_webhook_url(url: str) -> None:
    """Validator for submitted webhook URLs (Django ValidationError, so DRF reports it per field)."""
    if not url:
        return
    parts = urlsplit(url)
    if parts.scheme not in ALLOWED_SCHEMES or not parts.hostname:
        raise ValidationError("Webhook URLs must be absolute http or https URLs.")
    try:
        port = parts.port or DEFAULT_PORTS[parts.scheme]
    except ValueError:
        raise ValidationError("The webhook URL's port is not valid.") from None
    try:
        resolve_checked(parts.hostname, port)
    except UnsafeWebhookTarget as exc:
        raise ValidationError(str(exc)) from None


class _CheckedConnectionMixin:
    """Resolves the host itself, checks every address, and connects to a checked one. TLS still
    verifies the certificate against, and sends SNI for, the URL's host name."""

    def _new_conn(self) -> socket.socket:
        last_error: OSError | None = None
        for address in resolve_checked(self._dns_host, self.port):
            try:
                return connection.create_connection(
                    (address, self.port), self.timeout, source_address=self.source_address, socket_options=self.socket_options
                )
            except TimeoutError as exc:
                raise ConnectTimeoutError(self, f"Connection to {self.host} timed out (connect timeout={self.timeout}).") from exc
            except OSError as exc:
                last_error = exc
        raise NewConnectionError(self, f"Failed to establish a new connection: {last_error}")


class CheckedHTTPConnection(_CheckedConnectionMixin, HTTPConnection):
    pass


class CheckedHTTPSConnection(_CheckedConnectionMixin, HTTPSConnection):
    pass


class CheckedHTTPConnectionPool(HTTPConnectionPool):
    ConnectionCls = CheckedHTTPConnection


class CheckedHTTPSConnectionPool(HTTPSConnectionPool):
    ConnectionCls = CheckedHTTPSConnection


class CheckedAdapter(HTTPAdapter):
    def init_poolmanager(self, *args, **kwargs) -> None:
        super().init_poolmanager(*args, **kwargs)
        self.poolmanager.pool_classes_by_scheme = {"http": CheckedHTTPConnectionPool, "https": CheckedHTTPSConnectionPool}


def checked_session() -> requests.Session:
    """A requests session that only connects to checked addresses and ignores proxy variables
    (a proxy would connect on our behalf, past the check)."""
    session = requests.Session()
    session.trust_env = False
    adapter = CheckedAdapter(max_retries=0)
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    return session
