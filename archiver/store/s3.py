"""S3: the filesystem and the boto3 client of an ``s3://`` archive, and the check that some S3
credentials are configured before either is asked for anything."""

from __future__ import annotations

import functools
import importlib
import os
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from archiver.errors import ConfigError

if TYPE_CHECKING:
    import pyarrow.fs as pafs


#: Any one of these tells the AWS SDK where credentials come from.
_AWS_CREDENTIAL_SOURCES = (
    "AWS_ACCESS_KEY_ID",
    "AWS_PROFILE",
    "AWS_DEFAULT_PROFILE",
    "AWS_WEB_IDENTITY_TOKEN_FILE",
    "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
    "AWS_CONTAINER_CREDENTIALS_FULL_URI",
)


def s3_credentials_problem(env: Mapping[str, str], home: str) -> str | None:
    """What to set when no S3 credentials are configured (None when some source exists).

    Without this check the AWS SDK falls back to instance metadata (seconds of timeouts off
    EC2) and then to unsigned requests, which fail much later with a bare 403.
    """
    if env.get("AWS_ACCESS_KEY_ID") and not env.get("AWS_SECRET_ACCESS_KEY"):
        return "AWS_ACCESS_KEY_ID is set but AWS_SECRET_ACCESS_KEY is not: set both"
    if any(env.get(name) for name in _AWS_CREDENTIAL_SOURCES):
        return None
    shared = [
        env.get("AWS_SHARED_CREDENTIALS_FILE") or os.path.join(home, ".aws", "credentials"),
        env.get("AWS_CONFIG_FILE") or os.path.join(home, ".aws", "config"),
    ]
    if any(os.path.isfile(p) for p in shared):
        return None
    # An EC2 instance role is only asked for when the user says the metadata service is there:
    # elsewhere asking it costs timeouts (and traffic to an address that is not ours).
    if env.get("AWS_EC2_METADATA_DISABLED", "").strip().lower() == "false":
        return None
    return (
        "no S3 credentials: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (or AWS_PROFILE, "
        "or ~/.aws/credentials; on EC2 with an instance role, AWS_EC2_METADATA_DISABLED=false); "
        "for an S3-compatible server also set AWS_ENDPOINT_URL_S3 (or ARCHIVER_S3_ENDPOINT)"
    )


def s3_filesystem(endpoint: str | None, problem: str | None) -> pafs.FileSystem:
    import pyarrow.fs as pafs

    # The AWS SDK inside pyarrow reads the credential variables itself; config checked them
    # first, which turns a late, vague failure into a configuration error saying what to set.
    if problem:
        raise ConfigError(problem)
    kwargs: dict[str, object] = {}
    if endpoint:
        kwargs["endpoint_override"] = endpoint
        kwargs["scheme"] = "http" if endpoint.startswith("http://") else "https"
    try:
        return pafs.S3FileSystem(**kwargs)
    except OSError as exc:
        raise ConfigError(f"cannot set up S3: {exc}") from exc


@functools.cache
def s3_client(endpoint: str | None) -> Any:
    """A boto3 S3 client (for the locks of an S3 archive; boto3 comes with ``archiver[s3]``)."""
    try:
        boto3 = importlib.import_module("boto3")
    except ImportError:
        raise ConfigError(
            "an s3:// archive needs boto3 for its locks: pip install 'archiver[s3]'"
        ) from None
    # Like pyarrow's S3 filesystem, boto3 finds the credentials (and region) itself.
    region = boto3.session.Session().region_name or "us-east-1"
    return boto3.client("s3", endpoint_url=endpoint, region_name=region)
