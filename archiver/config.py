"""Settings: flag > environment > ``archiver.toml`` > default, resolved in this one place.

Library code never reads the environment; the CLI calls :func:`load` with ``os.environ`` and
hands the resulting :class:`Settings` down. Every setting remembers where its value came from,
so ``archiver config show`` can explain itself.
"""

from __future__ import annotations

import ipaddress
import logging
import os
import re
import ssl
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from archiver.errors import ConfigError

DEFAULT_ENDPOINT = "https://metrics.temporal.io"
#: The largest response body a scrape accepts. The API truncates an answer at 30,000 points;
#: a realistic answer is ~225 bytes a point (BENCHMARKS.md: 29,240 samples in 6.6 MB), so this
#: holds ~150,000 points, five times what any answer carries; anything larger is refused.
DEFAULT_MAX_BODY_BYTES = 32 * 1024 * 1024
CONFIG_FILE = "archiver.toml"
log = logging.getLogger(__name__)


_BEARER = re.compile(r"(?i)(bearer\s+)[^\s'\"]+")


class Secret:
    """A string that never shows itself in reprs, logs or tracebacks."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def reveal(self) -> str:
        """The secret itself, for the one place that must send it."""
        return self._value

    def __repr__(self) -> str:
        return "Secret('***')"

    __str__ = __repr__

    def scrub(self, text: str) -> str:
        """``text`` with the secret blanked out, whole or cut short (a quoted snippet ends
        mid-key), and whatever follows a ``Bearer``.

        >>> Secret("abcdefghijkl").scrub("got 'Authorization: Bearer abcdefghi'; key abcdefghij")
        "got 'Authorization: Bearer ***'; key ***"
        """
        text = _BEARER.sub(r"\1***", text)
        key = self._value
        head = key[: min(8, len(key))]
        if len(head) < 4:
            return text
        out, at = [], 0
        for _ in range(len(text)):  # bounded: each pass moves past one occurrence
            found = text.find(head, at)
            if found < 0:
                break
            end = found + len(head)
            while end < len(text) and end - found < len(key) and text[end] == key[end - found]:
                end += 1
            out.append(text[at:found] + "***")
            at = end
        return "".join(out) + text[at:]

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and other._value == self._value

    def __hash__(self) -> int:
        return hash(self._value)


@dataclass(frozen=True)
class Settings:
    """Everything a command needs to know, already validated."""

    archive: str = "./archive"
    endpoint: str = DEFAULT_ENDPOINT
    api_key: Secret | None = field(default=None, repr=False)
    namespaces: tuple[str, ...] = ()
    metrics: tuple[str, ...] = ()
    labels: tuple[str, ...] = ()
    ca_file: str | None = None  # extra CA bundle to trust (a private proxy, the simulator)
    s3_endpoint: str | None = None  # S3-compatible endpoint for s3:// archives
    timeout: float = 30.0  # seconds per HTTP request (the API docs advise 10-30 s)
    deadline: float = 50.0  # seconds a scrape may take: it must end before the next cron tick
    budget_per_hour: int = 180  # the account's request budget, shared by every process
    max_requests_per_scrape: int = 8  # a scrape's share of the budget, retries and shards included
    point_cap: int = 30_000  # datapoints per response before X-Completeness: limited
    offset: int = 120  # seconds the served minute lags behind now
    phase: float = 20.0  # seconds into the minute a cron-started scrape waits before asking
    descriptors_every: int = 86_400  # seconds between automatic descriptor refreshes
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES  # larger responses are refused (exit 1)
    fsync: bool = True  # make every write durable before it counts; off only for scratch archives
    # DuckDB's memory_limit for queries and compaction, e.g. "2GB" (None: see memory_limit())
    memory_limit: str | None = None
    sources: Mapping[str, str] = field(default_factory=dict, compare=False, repr=False)
    # for an s3:// archive: what to set when no S3 credentials are configured (None: some are)
    s3_problem: str | None = field(default=None, compare=False, repr=False)

    def require_key(self) -> Secret:
        """The API key, or a ConfigError saying how to provide one."""
        if self.api_key is None:
            raise ConfigError(
                "no API key: set TEMPORAL_CLOUD_API_KEY, or ARCHIVER_API_KEY_FILE to a file "
                "holding it"
            )
        return self.api_key

    def redacted(self) -> dict[str, Any]:
        """The effective settings for display, the key shown only as set or not."""
        out: dict[str, Any] = {}
        for f in fields(self):
            if f.name == "sources":
                continue
            value = getattr(self, f.name)
            if f.name == "api_key":
                value = None if value is None else "***"
            elif f.name in ("endpoint", "s3_endpoint") and value:
                value = redact_url(value)
            out[f.name] = list(value) if isinstance(value, tuple) else value
        return out


# setting -> environment variable (None: not settable from the environment)
_ENV: dict[str, str | None] = {
    "archive": "ARCHIVER_ARCHIVE",
    "endpoint": "ARCHIVER_ENDPOINT",
    "ca_file": "ARCHIVER_CA_FILE",
    "s3_endpoint": "ARCHIVER_S3_ENDPOINT",
    "timeout": "ARCHIVER_TIMEOUT",
    "deadline": "ARCHIVER_DEADLINE",
    "budget_per_hour": "ARCHIVER_BUDGET_PER_HOUR",
    "max_requests_per_scrape": "ARCHIVER_MAX_REQUESTS_PER_SCRAPE",
    "point_cap": "ARCHIVER_POINT_CAP",
    "offset": "ARCHIVER_OFFSET",
    "phase": "ARCHIVER_PHASE",
    "descriptors_every": "ARCHIVER_DESCRIPTORS_EVERY",
    "max_body_bytes": "ARCHIVER_MAX_BODY_BYTES",
    "fsync": "ARCHIVER_FSYNC",
    "memory_limit": "ARCHIVER_MEMORY_LIMIT",
    "namespaces": None,
    "metrics": None,
    "labels": None,
}
#: further variables a setting is read from when its own is not set, in this order: the AWS
#: SDKs' own endpoint variables (what MinIO and LocalStack users set already)
_ENV_FALLBACKS: dict[str, tuple[str, ...]] = {
    "s3_endpoint": ("AWS_ENDPOINT_URL_S3", "AWS_ENDPOINT_URL"),
}
_TOML_ONLY_FORBIDDEN = {"api_key", "sources", "s3_problem"}
_ZERO_ALLOWED = {"phase"}
_BOOLEANS = {
    "1": True,
    "true": True,
    "yes": True,
    "on": True,
    "0": False,
    "false": False,
    "no": False,
    "off": False,
}


def load(
    flags: Mapping[str, Any],
    env: Mapping[str, str],
    config_file: str | Path | None = None,
) -> Settings:
    """Resolve settings from flags (None or empty = not given), environment and TOML file.

    The TOML file is ``$ARCHIVER_CONFIG`` or ``./archiver.toml`` when present; it may hold any
    setting except the API key (keys do not belong in files that get committed).
    """
    values: dict[str, Any] = {}
    sources: dict[str, str] = {}
    defaults = Settings()
    for f in fields(Settings):
        if f.name not in _TOML_ONLY_FORBIDDEN:
            values[f.name] = getattr(defaults, f.name)
            sources[f.name] = "default"

    path = Path(config_file or env.get("ARCHIVER_CONFIG") or CONFIG_FILE)
    if path.is_file():
        for name, value in _read_toml(path).items():
            values[name] = _coerce(name, value, f"{path}")
            sources[name] = str(path)
    elif env.get("ARCHIVER_CONFIG") and not config_file:
        raise ConfigError(f"config file {path} does not exist: create it or unset ARCHIVER_CONFIG")

    for name, var in _ENV.items():
        for candidate in (var, *_ENV_FALLBACKS.get(name, ())) if var else ():
            if env.get(candidate):
                values[name] = _coerce(name, env[candidate], candidate)
                sources[name] = f"env {candidate}"
                break

    for name, value in flags.items():
        if value is None or value == () or value == []:
            continue
        if name not in values:
            raise ConfigError(f"unknown setting {name!r}")
        values[name] = _coerce(name, value, f"--{name.replace('_', '-')}")
        sources[name] = f"flag --{name.replace('_', '-')}"

    key, key_source = _api_key(env)
    sources["api_key"] = key_source
    if str(values["archive"]).startswith("s3://"):
        from archiver.store.archive import s3_credentials_problem

        values["s3_problem"] = s3_credentials_problem(env, env.get("HOME") or str(Path.home()))
    settings = Settings(**values, api_key=key, sources=sources)
    _validate(settings)
    return settings


def with_overrides(settings: Settings, **changes: Any) -> Settings:
    """A copy of ``settings`` with some values replaced (for library callers and tests)."""
    new = replace(settings, **changes)
    _validate(new)
    return new


def _api_key(env: Mapping[str, str]) -> tuple[Secret | None, str]:
    if env.get("TEMPORAL_CLOUD_API_KEY"):
        var = "TEMPORAL_CLOUD_API_KEY"
        return Secret(_clean_key(env[var], var)), f"env {var}"
    key_file = env.get("ARCHIVER_API_KEY_FILE")
    if key_file:
        where = f"ARCHIVER_API_KEY_FILE {key_file}"
        try:
            raw = Path(key_file).read_bytes()
            mode = Path(key_file).stat().st_mode
        except OSError as exc:
            raise ConfigError(f"cannot read {where}: {exc.strerror}") from None
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError:
            raise ConfigError(f"{where} is not UTF-8 text: put only the API key in it") from None
        if not text.strip():
            raise ConfigError(f"{where} is empty: put the API key in it")
        if mode & 0o077:
            log.warning("%s can be read by other users: chmod 600 %s", where, key_file)
        return Secret(_clean_key(text, where)), f"file {key_file} (ARCHIVER_API_KEY_FILE)"
    return None, "not set"


def _clean_key(raw: str, where: str) -> str:
    """The key without its trailing newline; anything else odd is refused, never echoed."""
    key = raw.removesuffix("\n").removesuffix("\r").strip(" \t")
    if "\n" in key or "\r" in key:
        raise ConfigError(
            f"{where} holds more than one line: keep only the API key in it (no comments, "
            "one key at a time)"
        )
    if any(ch.isspace() for ch in key):
        raise ConfigError(f"{where} holds whitespace inside the key: it must be the key alone")
    if not key.isascii() or not key.isprintable():
        raise ConfigError(
            f"{where} holds control or non-ASCII characters: copy the key again as plain text"
        )
    return key


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"cannot read {path}: {exc}") from None
    # Accept both a flat file and an [archiver] table.
    table = data.get("archiver", data)
    if not isinstance(table, dict):
        raise ConfigError(f"{path}: [archiver] must be a table")
    for name in table:
        if name in ("api_key", "key", "TEMPORAL_CLOUD_API_KEY"):
            raise ConfigError(
                f"{path}: the API key does not belong in a config file; "
                "use TEMPORAL_CLOUD_API_KEY or ARCHIVER_API_KEY_FILE"
            )
        if name.replace("-", "_") not in _ENV:
            raise ConfigError(f"{path}: unknown setting {name!r}")
    return {k.replace("-", "_"): v for k, v in table.items()}


def _coerce(name: str, value: Any, origin: str) -> Any:
    default = getattr(Settings(), name)
    try:
        if isinstance(default, tuple):
            items = [value] if isinstance(value, str) else list(value)
            return tuple(str(v) for v in items)
        if isinstance(default, bool):
            if isinstance(value, bool):
                return value
            text = str(value).strip().lower()
            if text not in _BOOLEANS:
                raise ConfigError(f"{origin}: {name} must be true or false, not {value!r}")
            return _BOOLEANS[text]
        if isinstance(default, (int, float)):
            number = type(default)(value)
            if number < 0 or (number == 0 and name not in _ZERO_ALLOWED):
                raise ValueError
            return number
    except (TypeError, ValueError):
        kind = "a number >= 0" if name in _ZERO_ALLOWED else "a positive number"
        raise ConfigError(f"{origin}: {name} must be {kind}, not {value!r}") from None
    return None if value is None else str(value)


def _validate(settings: Settings) -> None:
    check_endpoint(settings.endpoint)
    memory_limit(settings)
    if settings.ca_file and not Path(settings.ca_file).is_file():
        raise ConfigError(f"CA file {settings.ca_file} does not exist: fix ARCHIVER_CA_FILE")
    if settings.ca_file:
        trust_context(settings.ca_file)  # a file that is not PEM fails here, before any wait


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


#: The default DuckDB memory limit: this much at most (DuckDB holds up to its limit, plus the
#: process around it: 1.5 GB keeps a report under 2 GB peak RSS), and a quarter of the RAM.
DEFAULT_MEMORY_LIMIT = 1500 * 1000**2
_SIZE_UNITS = {"": 1, "b": 1, "kb": 1000, "mb": 1000**2, "gb": 1000**3, "tb": 1000**4}
_SIZE_UNITS |= {"kib": 1024, "mib": 1024**2, "gib": 1024**3, "tib": 1024**4}
#: Below this DuckDB cannot run the reports at all.
_MIN_MEMORY_LIMIT = 64 * 1000**2


def memory_limit(settings: Settings) -> str:
    """DuckDB's ``memory_limit`` for queries and compaction, e.g. ``"2000MB"``.

    ``ARCHIVER_MEMORY_LIMIT`` (``512MB``, ``2GB``, ``1.5GiB``), or min(1.5 GB, a quarter of RAM).
    A size this machine cannot give (more than its RAM, or below 64 MB) is a ConfigError.
    """
    ram = physical_memory()
    if settings.memory_limit is None:
        wanted = min(DEFAULT_MEMORY_LIMIT, ram // 4) if ram else DEFAULT_MEMORY_LIMIT
    else:
        where = settings.sources.get("memory_limit", "ARCHIVER_MEMORY_LIMIT")
        match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([a-zA-Z]*)\s*", settings.memory_limit)
        unit = _SIZE_UNITS.get(match.group(2).lower()) if match else None
        if match is None or unit is None:
            raise ConfigError(
                f"ARCHIVER_MEMORY_LIMIT ({where}) is {settings.memory_limit!r}: give a size such "
                "as 512MB or 2GB"
            )
        wanted = int(float(match.group(1)) * unit)
        if wanted < _MIN_MEMORY_LIMIT or (ram and wanted > ram):
            raise ConfigError(
                f"ARCHIVER_MEMORY_LIMIT ({where}) is {settings.memory_limit!r}, which this "
                f"machine cannot give: use between 64MB and its {ram // 1000**2}MB of RAM"
            )
    return f"{wanted // 1000**2}MB"


def physical_memory() -> int:
    """The machine's RAM in bytes (0 when the OS does not say)."""
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (AttributeError, OSError, ValueError):
        return 0


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


def load_settings(**flags: Any) -> Settings:
    """Settings for library callers and notebooks: ``flags`` > environment > archiver.toml.

    >>> load_settings(archive="/tmp/archive").archive
    '/tmp/archive'
    """
    import os

    return load(flags, os.environ)


@dataclass(frozen=True)
class ImportAuth:
    """Credentials for a Prometheus-compatible server that history is imported from (or
    exported to): a bearer token, or a user name and password for basic auth; never shown."""

    bearer_token: Secret | None = field(default=None, repr=False)
    username: str | None = None
    password: Secret | None = field(default=None, repr=False)

    @property
    def is_set(self) -> bool:
        return self.bearer_token is not None or self.username is not None


def import_auth(env: Mapping[str, str]) -> ImportAuth:
    """Credentials from ``ARCHIVER_IMPORT_BEARER_TOKEN`` (or ``..._FILE``), or
    ``ARCHIVER_IMPORT_USERNAME`` with ``ARCHIVER_IMPORT_PASSWORD`` (or ``..._FILE``)."""
    token = _secret(env, "ARCHIVER_IMPORT_BEARER_TOKEN")
    username = env.get("ARCHIVER_IMPORT_USERNAME") or None
    password = _secret(env, "ARCHIVER_IMPORT_PASSWORD")
    if token is not None and username is not None:
        raise ConfigError(
            "both ARCHIVER_IMPORT_BEARER_TOKEN and ARCHIVER_IMPORT_USERNAME are set: keep one"
        )
    if (username is None) != (password is None):
        raise ConfigError(
            "basic auth needs both ARCHIVER_IMPORT_USERNAME and ARCHIVER_IMPORT_PASSWORD "
            "(or ARCHIVER_IMPORT_PASSWORD_FILE)"
        )
    return ImportAuth(bearer_token=token, username=username, password=password)


def _secret(env: Mapping[str, str], name: str) -> Secret | None:
    """A secret from ``$name``, or from the file ``$name_FILE`` names."""
    if env.get(name):
        return Secret(env[name].strip())
    path = env.get(f"{name}_FILE")
    if not path:
        return None
    try:
        text = Path(path).read_text(encoding="utf-8").strip()
    except OSError as exc:
        raise ConfigError(f"cannot read {name}_FILE {path}: {exc.strerror}") from None
    if not text:
        raise ConfigError(f"{name}_FILE {path} is empty")
    return Secret(text)
