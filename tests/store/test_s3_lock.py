"""The locks of an S3 archive: lease objects under <archive>/_archiver/locks/, seen by every
machine (here: processes with their own temp folders) using the archive, against moto's S3
server on loopback, which honours If-None-Match and If-Match on PutObject."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import filelock
import pytest

from archiver.errors import ConfigError
from archiver.store import archive as archive_module
from archiver.store.archive import Archive
from tests.store.test_s3 import s3  # noqa: F401  (the moto server fixture)

CHILD = textwrap.dedent(
    """
    import sys
    from archiver.store.archive import Archive

    archive = Archive.open("s3://bucket/prefix", s3_endpoint=sys.argv[1])
    with archive.lock("scrape", timeout=float(sys.argv[2])):
        print("held", flush=True)
        sys.stdin.readline()
    print("released", flush=True)
    """
)


def client(endpoint: str) -> object:
    import boto3

    return boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1")


def machine(endpoint: str, tmp: Path, timeout: float = 5.0) -> subprocess.Popen[str]:
    """Another host: its own process and its own temp folder."""
    tmp.mkdir()
    env = {**os.environ, "TMPDIR": str(tmp)}
    return subprocess.Popen(
        [sys.executable, "-c", CHILD, endpoint, str(timeout)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )


def test_two_machines_contend_for_one_lock(s3: str, tmp_path: Path) -> None:  # noqa: F811
    other = machine(s3, tmp_path / "host-a")
    try:
        assert other.stdout is not None and other.stdin is not None
        assert other.stdout.readline().strip() == "held"
        s3c = client(s3)
        lease = s3c.get_object(Bucket="bucket", Key="prefix/_archiver/locks/scrape")  # type: ignore[attr-defined]
        assert json.loads(lease["Body"].read())["owner"].split(":")[1] == str(other.pid)
        here = Archive.open("s3://bucket/prefix", s3_endpoint=s3)
        with pytest.raises(filelock.Timeout):
            here.lock("scrape", timeout=0).acquire()
        other.stdin.write("go\n")
        other.stdin.flush()
        assert other.stdout.readline().strip() == "released"
        assert other.wait(timeout=30) == 0
    finally:
        other.kill()
        other.communicate()
    # free again: this machine takes it, and a third one has to wait
    lock = here.lock("scrape", timeout=0)
    with lock:
        third = machine(s3, tmp_path / "host-b", timeout=0)
        _, err = third.communicate(timeout=60)
        assert third.returncode != 0 and "Timeout" in err
    assert not lock.is_locked
    listed = s3c.list_objects_v2(Bucket="bucket", Prefix="prefix/_archiver/locks/")  # type: ignore[attr-defined]
    assert listed.get("KeyCount", 0) == 0  # released means deleted
    assert not list((tmp_path / "host-a").iterdir())  # nothing in the machines' temp folders


def test_an_expired_lease_is_taken_over_a_live_one_is_not(s3: str) -> None:  # noqa: F811
    s3c = client(s3)
    key = "prefix/_archiver/locks/write"
    here = Archive.open("s3://bucket/prefix", s3_endpoint=s3)
    live = json.dumps({"owner": "crashed-host:1:x", "lease_seconds": 3600}).encode()
    s3c.put_object(Bucket="bucket", Key=key, Body=live)  # type: ignore[attr-defined]
    with pytest.raises(filelock.Timeout):
        here.lock("write", timeout=0).acquire()
    expired = json.dumps({"owner": "crashed-host:1:x", "lease_seconds": 0}).encode()
    s3c.put_object(Bucket="bucket", Key=key, Body=expired)  # type: ignore[attr-defined]
    lock = here.lock("write", timeout=0)
    with lock, lock:  # reentrant in one object, like the local file locks
        body = s3c.get_object(Bucket="bucket", Key=key)["Body"].read()  # type: ignore[attr-defined]
        assert json.loads(body)["owner"] == lock.owner  # type: ignore[union-attr]
    assert not lock.is_locked


def test_an_s3_archive_without_boto3_is_a_configuration_error(
    s3: str,  # noqa: F811
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setitem(sys.modules, "boto3", None)
    archive_module._s3_client.cache_clear()
    try:
        with pytest.raises(ConfigError, match=r"needs boto3.*archiver\[s3\]"):
            Archive.open("s3://bucket/prefix", s3_endpoint=s3)
    finally:
        archive_module._s3_client.cache_clear()


def test_local_archives_keep_their_file_locks(tmp_path: Path) -> None:
    lock = Archive.open(str(tmp_path)).lock("write")
    assert isinstance(lock, filelock.BaseFileLock)
    with lock:
        assert (tmp_path / "_archiver" / "write.lock").exists()
