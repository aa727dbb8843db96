"""Settings precedence (flag > env > archiver.toml > default), the key's secrecy, the https rule."""

from __future__ import annotations

from pathlib import Path

import pytest

from archiver import config
from archiver.errors import ConfigError


def test_precedence_flag_over_env_over_file_over_default(tmp_path: Path) -> None:
    toml = tmp_path / "archiver.toml"
    toml.write_text('archive = "from-file"\nendpoint = "https://file.example"\ntimeout = 12\n')
    env = {"ARCHIVER_ENDPOINT": "https://env.example"}
    settings = config.load({"archive": "from-flag"}, env, toml)
    assert settings.archive == "from-flag"
    assert settings.endpoint == "https://env.example"
    assert settings.timeout == 12.0
    assert settings.deadline == 50.0
    assert settings.sources["archive"] == "flag --archive"
    assert settings.sources["endpoint"] == "env ARCHIVER_ENDPOINT"
    assert settings.sources["timeout"] == str(toml)
    assert settings.sources["deadline"] == "default"


def test_archiver_table_in_toml_and_repeatable_filters(tmp_path: Path) -> None:
    toml = tmp_path / "archiver.toml"
    toml.write_text('[archiver]\nnamespaces = ["prod-*", "staging.acme"]\n')
    settings = config.load({"metrics": ("m1",)}, {}, toml)
    assert settings.namespaces == ("prod-*", "staging.acme")
    assert settings.metrics == ("m1",)


def test_key_from_env_or_file_never_shown(tmp_path: Path) -> None:
    key_file = tmp_path / "key"
    key_file.write_text("file-secret\n")
    from_file = config.load({}, {"ARCHIVER_API_KEY_FILE": str(key_file)}, tmp_path / "none.toml")
    assert from_file.require_key().reveal() == "file-secret"
    from_env = config.load({}, {"TEMPORAL_CLOUD_API_KEY": "env-secret"}, tmp_path / "none.toml")
    assert from_env.require_key().reveal() == "env-secret"
    for shown in (repr(from_env), str(from_env.api_key), repr(from_env.redacted())):
        assert "env-secret" not in shown


def test_missing_key_names_the_variable(tmp_path: Path) -> None:
    settings = config.load({}, {}, tmp_path / "none.toml")
    with pytest.raises(ConfigError, match="TEMPORAL_CLOUD_API_KEY"):
        settings.require_key()


def test_key_in_toml_is_refused(tmp_path: Path) -> None:
    toml = tmp_path / "archiver.toml"
    toml.write_text('api_key = "oops"\n')
    with pytest.raises(ConfigError, match="does not belong"):
        config.load({}, {}, toml)


@pytest.mark.parametrize(
    ("endpoint", "ok"),
    [
        ("https://metrics.temporal.io", True),
        ("http://127.0.0.1:8080", True),
        ("http://127.5.5.5", True),
        ("http://[::1]:9000", True),
        ("http://localhost:9000", True),
        ("http://metrics.temporal.io", False),
        ("http://10.0.0.1", False),
        ("ftp://x", False),
        ("not a url", False),
    ],
)
def test_plain_http_only_on_loopback(endpoint: str, ok: bool, tmp_path: Path) -> None:
    if ok:
        assert config.load({"endpoint": endpoint}, {}, tmp_path / "none.toml").endpoint == endpoint
    else:
        with pytest.raises(ConfigError):
            config.load({"endpoint": endpoint}, {}, tmp_path / "none.toml")


def test_bad_numbers_and_unknown_settings(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="positive number"):
        config.load({}, {"ARCHIVER_TIMEOUT": "soon"}, tmp_path / "none.toml")
    toml = tmp_path / "archiver.toml"
    toml.write_text("colour = 1\n")
    with pytest.raises(ConfigError, match="unknown setting"):
        config.load({}, {}, toml)


def test_memory_limit_default_and_sizes_the_machine_cannot_give(tmp_path: Path) -> None:
    none = tmp_path / "none.toml"
    ram = config.physical_memory()
    default = config.memory_limit(config.load({}, {}, none))
    assert default == f"{min(1500 * 1000**2, ram // 4) // 1000**2}MB"
    set_ = config.load({}, {"ARCHIVER_MEMORY_LIMIT": "1.5GiB"}, none)
    assert config.memory_limit(set_) == f"{int(1.5 * 1024**3) // 1000**2}MB"
    for bad in ("lots", "12 parsecs", "1MB", f"{ram * 2}B"):
        with pytest.raises(config.ConfigError, match="ARCHIVER_MEMORY_LIMIT"):
            config.load({}, {"ARCHIVER_MEMORY_LIMIT": bad}, none)


# -- key hygiene (issue 15 case 5) ---------------------------------------------------------------


def test_a_key_files_trailing_newline_is_stripped(tmp_path: Path) -> None:
    key_file = tmp_path / "key"
    key_file.write_text("abc123-key\n")
    key_file.chmod(0o600)
    env = {"ARCHIVER_API_KEY_FILE": str(key_file)}
    settings = config.load({}, env, config_file=tmp_path / "none.toml")
    assert settings.require_key().reveal() == "abc123-key"


@pytest.mark.parametrize(
    ("content", "complaint"),
    [
        ("abc123-key\n# the old one: zzz\n", "more than one line"),
        ("abc123-key\nold-key-456\n", "more than one line"),
        ("abc123 key\n", "whitespace"),
        ("abc123-kéy\n", "non-ASCII"),
        ("abc123\x07key\n", "control"),
    ],
)
def test_an_odd_key_file_is_refused_naming_the_file_not_the_key(
    tmp_path: Path, content: str, complaint: str
) -> None:
    key_file = tmp_path / "key"
    key_file.write_text(content, encoding="utf-8")
    env = {"ARCHIVER_API_KEY_FILE": str(key_file)}
    with pytest.raises(ConfigError, match=complaint) as info:
        config.load({}, env, config_file=tmp_path / "none.toml")
    assert str(key_file) in str(info.value) and "abc123" not in str(info.value)


def test_an_odd_key_in_the_environment_names_the_variable(tmp_path: Path) -> None:
    env = {"TEMPORAL_CLOUD_API_KEY": "abc123-key\nsecond"}
    with pytest.raises(ConfigError, match="TEMPORAL_CLOUD_API_KEY holds more than one line"):
        config.load({}, env, config_file=tmp_path / "none.toml")


def test_a_key_file_others_can_read_is_warned_about(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    key_file = tmp_path / "key"
    key_file.write_text("abc123-key\n")
    key_file.chmod(0o644)
    config.load({}, {"ARCHIVER_API_KEY_FILE": str(key_file)}, config_file=tmp_path / "none.toml")
    assert "can be read by other users" in caplog.text and "abc123" not in caplog.text


def test_credentials_in_the_endpoint_are_redacted(tmp_path: Path) -> None:
    flags = {"endpoint": "https://user:s3cret@proxy.example/"}
    settings = config.load(flags, {}, config_file=tmp_path / "none.toml")
    assert settings.redacted()["endpoint"] == "https://***@proxy.example/"
    with pytest.raises(ConfigError) as info:
        config.load({"endpoint": "http://user:s3cret@example.com"}, {}, tmp_path / "none.toml")
    assert "s3cret" not in str(info.value)


def test_a_ca_file_that_is_not_pem_is_a_config_error(tmp_path: Path) -> None:
    from archiver.collect.budget import Budget
    from archiver.collect.client import Client

    bad = tmp_path / "ca.pem"
    bad.write_text("not a certificate\n")
    with pytest.raises(ConfigError, match=r"ARCHIVER_CA_FILE .* is not a PEM"):
        Client("https://example.com", config.Secret("k"), budget=Budget(None), ca_file=str(bad))


def test_s3_endpoint_from_the_sdks_variables(tmp_path: Path) -> None:
    """ARCHIVER_S3_ENDPOINT > AWS_ENDPOINT_URL_S3 > AWS_ENDPOINT_URL > archiver.toml."""
    toml = tmp_path / "archiver.toml"
    toml.write_text('s3_endpoint = "http://127.0.0.1:1"\n')
    every = {
        "ARCHIVER_S3_ENDPOINT": "http://127.0.0.1:2",
        "AWS_ENDPOINT_URL_S3": "http://127.0.0.1:3",
        "AWS_ENDPOINT_URL": "http://127.0.0.1:4",
    }
    for dropped, (want, source) in [
        ((), ("http://127.0.0.1:2", "env ARCHIVER_S3_ENDPOINT")),
        (("ARCHIVER_S3_ENDPOINT",), ("http://127.0.0.1:3", "env AWS_ENDPOINT_URL_S3")),
        (
            ("ARCHIVER_S3_ENDPOINT", "AWS_ENDPOINT_URL_S3"),
            ("http://127.0.0.1:4", "env AWS_ENDPOINT_URL"),
        ),
        (tuple(every), ("http://127.0.0.1:1", str(toml))),
    ]:
        env = {k: v for k, v in every.items() if k not in dropped}
        settings = config.load({}, env, toml)
        assert (settings.s3_endpoint, settings.sources["s3_endpoint"]) == (want, source)


def test_s3_credentials_are_checked_by_config_not_by_the_archive(tmp_path: Path) -> None:
    env = {"HOME": str(tmp_path)}
    assert config.load({"archive": str(tmp_path)}, env).s3_problem is None  # local: no check
    problem = config.load({"archive": "s3://bucket/prefix"}, env).s3_problem
    assert problem and "AWS_ACCESS_KEY_ID" in problem and "AWS_ENDPOINT_URL_S3" in problem
    with_keys = env | {"AWS_ACCESS_KEY_ID": "a", "AWS_SECRET_ACCESS_KEY": "b"}
    assert config.load({"archive": "s3://bucket/prefix"}, with_keys).s3_problem is None
