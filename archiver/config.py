"""Settings: flag > environment > ``archiver.toml`` > default, resolved in this one place.

Library code never reads the environment; the CLI calls :func:`load` with ``os.environ`` and
hands the resulting :class:`Settings` down. Every setting remembers where its value came from,
so ``archiver config show`` can explain itself.
"""

from __future__ import annotations

import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

from archiver.credentials import ImportAuth as ImportAuth
from archiver.credentials import Secret as Secret
from archiver.credentials import api_key
from archiver.credentials import import_auth as import_auth
from archiver.endpoints import DEFAULT_ENDPOINT, redact_url
from archiver.endpoints import check_endpoint as check_endpoint
from archiver.endpoints import trust_context as trust_context
from archiver.errors import ConfigError
from archiver.memory import duckdb_memory_limit
from archiver.memory import physical_memory as physical_memory

# Secret, ImportAuth, import_auth, check_endpoint, trust_context and physical_memory are
# re-exported: they used to live here, and callers still import them from here.

#: The largest response body a scrape accepts. The API truncates an answer at 30,000 points;
#: a realistic answer is ~225 bytes a point (BENCHMARKS.md: 29,240 samples in 6.6 MB), so this
#: holds ~150,000 points, five times what any answer carries; anything larger is refused.
DEFAULT_MAX_BODY_BYTES = 32 * 1024 * 1024
CONFIG_FILE = "archiver.toml"


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

    key, key_source = api_key(env)
    sources["api_key"] = key_source
    if str(values["archive"]).startswith("s3://"):
        from archiver.store.s3 import s3_credentials_problem

        values["s3_problem"] = s3_credentials_problem(env, env.get("HOME") or str(Path.home()))
    settings = Settings(**values, api_key=key, sources=sources)
    _validate(settings)
    return settings


def with_overrides(settings: Settings, **changes: Any) -> Settings:
    """A copy of ``settings`` with some values replaced (for library callers and tests)."""
    new = replace(settings, **changes)
    _validate(new)
    return new


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


def memory_limit(settings: Settings) -> str:
    """DuckDB's ``memory_limit`` for ``settings`` (:func:`archiver.memory.duckdb_memory_limit`)."""
    where = settings.sources.get("memory_limit", "ARCHIVER_MEMORY_LIMIT")
    return duckdb_memory_limit(settings.memory_limit, where)


def load_settings(**flags: Any) -> Settings:
    """Settings for library callers and notebooks: ``flags`` > environment > archiver.toml.

    >>> load_settings(archive="/tmp/archive").archive
    '/tmp/archive'
    """
    import os

    return load(flags, os.environ)


