"""The archiver's exceptions: one tree, one exit code per branch.

::

    ArchiverError                      exit 1  something outside failed (network, server, storage)
    ├── ConfigError                    exit 2  the user's settings or arguments need fixing
    │   └── EmptyArchiveError          exit 2  nothing archived yet where a query was asked for
    ├── NetworkError                   exit 1  no usable HTTP answer (timeouts, resets, TLS)
    ├── ServerError                    exit 1  the server answered with an error status
    │   └── AuthError                  exit 1  401/403: the key was refused
    ├── ParseError                     exit 1  the body is not valid OpenMetrics
    ├── StorageError                   exit 1  the archive could not be read or written
    ├── QueryError                     exit 1  DuckDB rejected a query
    ├── Interrupted                    exit 1  SIGINT/SIGTERM stopped a request mid-way
    ├── IncompleteError                exit 3  data came back truncated or unknown, or gaps found
    └── RateLimitedError               exit 4  the request budget is spent or 429 past the deadline

Every message says what to do next. No message ever contains the API key.
"""

from __future__ import annotations


class ArchiverError(Exception):
    """Base of every error the archiver raises on purpose."""

    exit_code = 1


class ConfigError(ArchiverError):
    """A setting, flag or argument is wrong; the message names it and how to fix it."""

    exit_code = 2


class EmptyArchiveError(ConfigError):
    """The archive holds nothing to query yet."""


class NetworkError(ArchiverError):
    """No usable HTTP response: connection refused or reset, timeout, TLS failure, cut body."""


class ServerError(ArchiverError):
    """The server answered with an error status."""

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


class AuthError(ServerError):
    """The server refused the API key (401) or its role (403)."""


class ParseError(ArchiverError):
    """The response body is not valid OpenMetrics text."""

    def __init__(self, message: str, line: int | None = None) -> None:
        super().__init__(message)
        self.line = line


class StorageError(ArchiverError):
    """The archive could not be read or written."""


class QueryError(ArchiverError):
    """DuckDB rejected a query."""


class Interrupted(ArchiverError):
    """SIGINT/SIGTERM arrived while a request was on the wire; ``run`` stops on it."""


class IncompleteError(ArchiverError):
    """Data came back truncated (`limited`) or `unknown`, or a gap audit found gaps."""

    exit_code = 3


class RateLimitedError(ArchiverError):
    """The account's request budget is spent, or 429s lasted past the retry deadline."""

    exit_code = 4
