"""Endpoints: which URLs the API key may travel to, how a URL is shown without its password,
and which certificates a TLS connection trusts."""

from __future__ import annotations

import ipaddress
import ssl
from urllib.parse import urlsplit

from archiver.errors import ConfigError

DEFAULT_ENDPOINT = "https://metrics.temporal.io"


def redact_url(url: str) -> str:
    """``url`` with any user name and password in it replaced by ``***``.

    >>> redact_url("https://user:pw@proxy.example/metrics")
    'https://***@proxy.example/metrics'
    """
    parts = urlsplit(url)
    if "@" not in parts.netloc:
        return url
    host = parts.netloc.rsplit("@", 1)[1]
    return parts._replace(netloc=f"***@{host}").geturl()


def is_loopback(host: str) -> bool:
    """Whether ``host`` is this machine: 127.0.0.0/8, ::1 or localhost."""
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def check_endpoint(endpoint: str) -> None:
    """Refuse anything but https, or plain http to a loopback address."""
    parts = urlsplit(endpoint)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ConfigError(
            f"endpoint {redact_url(endpoint)!r} is not a URL: use e.g. {DEFAULT_ENDPOINT}"
        )
    if parts.scheme == "http" and not is_loopback(parts.hostname):
        raise ConfigError(
            f"endpoint {redact_url(endpoint)!r} uses plain http: the API key must travel over "
            "https (plain http is allowed only for 127.0.0.1, ::1 or localhost)"
        )



def trust_context(ca_file: str) -> ssl.SSLContext:
    """The usual roots plus the extra CA in ``ca_file`` (a private proxy, the simulator)."""
    import certifi

    context = ssl.create_default_context(cafile=certifi.where())
    try:
        context.load_verify_locations(cafile=ca_file)
    except (ssl.SSLError, OSError, ValueError) as exc:
        raise ConfigError(
            f"ARCHIVER_CA_FILE {ca_file} is not a PEM certificate bundle ({exc}): "
            "point it at the CA's .pem file"
        ) from None
    return context
