"""Credentials: the API key and an import server's token or password, read from an environment
mapping (never ``os.environ`` itself) and held as :class:`Secret` values that never show
themselves."""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from archiver.errors import ConfigError

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


def api_key(env: Mapping[str, str]) -> tuple[Secret | None, str]:
    """The Temporal Cloud API key from ``TEMPORAL_CLOUD_API_KEY`` or the file
    ``ARCHIVER_API_KEY_FILE`` names, and where it came from (``"not set"``: neither)."""
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
