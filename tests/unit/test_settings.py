"""Settings are checked as they are read: a value of the wrong type, out of range or not
among the allowed ones is a SettingsError naming the variable, the value (never a
secret's) and what is allowed; valid values, the documented zeros included, are read."""

from __future__ import annotations

import base64
from pathlib import Path

import pytest

from syncline.config import Settings, SettingsError


def load(**environ: str) -> Settings:
    return Settings.from_env(environ, dotenv=None)


@pytest.mark.parametrize(
    ("variable", "value", "message"),
    [
        (
            "SYNCLINE_WEBHOOK_TIMEOUT_SECONDS",
            "abc",
            "SYNCLINE_WEBHOOK_TIMEOUT_SECONDS=abc: not a number of seconds;"
            " allowed: a number of seconds above 0",
        ),
        (
            "SYNCLINE_WEBHOOK_TIMEOUT_SECONDS",
            "-5",
            "SYNCLINE_WEBHOOK_TIMEOUT_SECONDS=-5: too small; allowed: a number of seconds above 0",
        ),
        ("SYNCLINE_WEBHOOK_TIMEOUT_SECONDS", "0", "allowed: a number of seconds above 0"),
        ("SYNCLINE_WEBHOOK_TIMEOUT_SECONDS", "inf", "not a number of seconds"),
        (
            "SYNCLINE_DB_POOL_SIZE",
            "-1",
            "SYNCLINE_DB_POOL_SIZE=-1: too small; allowed: a whole number, at least 1",
        ),
        ("SYNCLINE_DB_EVENT_STORE_POOL_SIZE", "0", "SYNCLINE_DB_EVENT_STORE_POOL_SIZE=0: too"),
        (
            "SYNCLINE_LOG_LEVEL",
            "LOUD",
            "SYNCLINE_LOG_LEVEL=LOUD: not a log level;"
            " allowed: DEBUG, INFO, WARNING, ERROR, CRITICAL",
        ),
        (
            "SYNCLINE_LOG_FORMAT",
            "xml",
            "SYNCLINE_LOG_FORMAT=xml: not a log format; allowed: auto, json, console",
        ),
        ("SYNCLINE_RATE_LIMIT_BURST", "-3", "SYNCLINE_RATE_LIMIT_BURST=-3: too small"),
        ("SYNCLINE_RATE_LIMIT_BURST", "2.5", "SYNCLINE_RATE_LIMIT_BURST=2.5: not a whole number"),
        ("SYNCLINE_RATE_LIMIT_PER_SECOND", "-1", "SYNCLINE_RATE_LIMIT_PER_SECOND=-1: too small"),
        ("SYNCLINE_RATE_LIMIT_PER_SECOND", "lots", "not a number of requests per second"),
        ("SYNCLINE_ACCESS_TOKEN_TTL_SECONDS", "0", "SYNCLINE_ACCESS_TOKEN_TTL_SECONDS=0: too"),
        ("SYNCLINE_WEBHOOK_CONCURRENCY", "0", "SYNCLINE_WEBHOOK_CONCURRENCY=0: too small"),
        ("SYNCLINE_WEBHOOK_ENDPOINT_CONCURRENCY", "0", "ENDPOINT_CONCURRENCY=0: too small"),
        ("SYNCLINE_WEBHOOK_BREAKER_FAILURES", "x", "BREAKER_FAILURES=x: not a whole number"),
        ("SYNCLINE_WEBHOOK_BREAKER_SECONDS", "0", "SYNCLINE_WEBHOOK_BREAKER_SECONDS=0: too"),
        (
            "SYNCLINE_WEBHOOK_BREAKER_MAX_SECONDS",
            "10",
            "SYNCLINE_WEBHOOK_BREAKER_MAX_SECONDS=10: less than SYNCLINE_WEBHOOK_BREAKER_SECONDS",
        ),
        ("SYNCLINE_CATCH_UP_WAIT_SECONDS", "-1", "allowed: a number of seconds, at least 0"),
        ("SYNCLINE_LAG_ALERT_SECONDS", "soon", "SYNCLINE_LAG_ALERT_SECONDS=soon: not a number"),
        ("SYNCLINE_LIVE_LINGER_SECONDS", "-0.1", "SYNCLINE_LIVE_LINGER_SECONDS=-0.1: too small"),
        (
            "SYNCLINE_LIVE_LATER_LINGER_SECONDS",
            "soon",
            "SYNCLINE_LIVE_LATER_LINGER_SECONDS=soon: not a number of seconds",
        ),
        (
            "SYNCLINE_LIVE_COMMIT",
            "sometimes",
            "SYNCLINE_LIVE_COMMIT=sometimes: not a mode; allowed: by-rank, together",
        ),
        (
            "SYNCLINE_ALLOW_PRIVATE_WEBHOOKS",
            "ture",
            "SYNCLINE_ALLOW_PRIVATE_WEBHOOKS=ture: not a yes or no",
        ),
        (
            "SYNCLINE_CORS_ORIGINS",
            "https://app.example.com,app.example.com",
            "app.example.com is not an origin",
        ),
        ("SYNCLINE_AUDIT_PUBLIC_KEYS", "junk", "SYNCLINE_AUDIT_PUBLIC_KEYS=junk: public key 1"),
    ],
)
def test_a_value_not_allowed_is_named_with_what_is_allowed(
    variable: str, value: str, message: str
) -> None:
    with pytest.raises(SettingsError) as raised:
        load(**{variable: value})
    assert message in str(raised.value)
    assert "\n" not in str(raised.value)
    assert "; allowed: " in str(raised.value)


@pytest.mark.parametrize(
    ("variable", "secret", "problem"),
    [
        ("SYNCLINE_AUDIT_SIGNING_KEY", "notbase64!secret", "not base64"),
        ("SYNCLINE_AUDIT_SIGNING_KEY", base64.b64encode(b"secret-seed").decode(), "decodes to 11"),
        ("DATABASE_URL", "mysql://admin:hunter2@db/app", "not a PostgreSQL connection string"),
        ("DATABASE_URL", "postgresql://admin:hunter2@db:port/app", "its port is not a number"),
    ],
)
def test_a_secret_is_named_but_never_echoed(variable: str, secret: str, problem: str) -> None:
    with pytest.raises(SettingsError) as raised:
        load(**{variable: secret})
    message = str(raised.value)
    assert message.startswith(f"{variable}: {problem}"), message
    assert secret not in message
    assert "hunter2" not in message
    assert "secret" not in message.lower().replace("secret_key", "")


def test_valid_values_are_read_and_the_documented_zeros_allowed(tmp_path: Path) -> None:
    seed = base64.b64encode(bytes(range(32))).decode()
    settings = load(
        DATABASE_URL="postgresql://syncline@db.internal:5432/syncline",
        SYNCLINE_AUDIT_SIGNING_KEY=seed,
        SYNCLINE_AUDIT_PUBLIC_KEYS=f"{seed}, {seed}",
        SYNCLINE_LOG_LEVEL="debug",
        SYNCLINE_LOG_FORMAT="Console",
        SYNCLINE_RATE_LIMIT_PER_SECOND="0",
        SYNCLINE_CATCH_UP_WAIT_SECONDS="0",
        SYNCLINE_LIVE_LINGER_SECONDS="0",
        SYNCLINE_LIVE_LATER_LINGER_SECONDS="0.25",
        SYNCLINE_WEBHOOK_TIMEOUT_SECONDS="2.5",
        SYNCLINE_WEBHOOK_CONCURRENCY="1",
        SYNCLINE_WEBHOOK_ENDPOINT_CONCURRENCY="1",
        SYNCLINE_WEBHOOK_BREAKER_SECONDS="30",
        SYNCLINE_WEBHOOK_BREAKER_MAX_SECONDS="30",
        SYNCLINE_ALLOW_PRIVATE_WEBHOOKS="yes",
        SYNCLINE_CORS_ORIGINS="https://app.example.com/, http://localhost:3000,*",
        SYNCLINE_DATA_DIR=str(tmp_path / "new"),
        SYNCLINE_LIVE_COMMIT="together",
    )
    assert settings.audit_signing_key == seed
    assert (settings.log_level, settings.log_format) == ("DEBUG", "console")
    assert settings.rate_limit_per_second == 0.0
    assert (settings.catch_up_wait_seconds, settings.live_linger_seconds) == (0.0, 0.0)
    assert settings.live_later_linger_seconds == 0.25
    assert settings.webhook_timeout == 2.5
    assert settings.webhook_endpoint_concurrency == 1
    assert settings.allow_private_webhooks is True
    assert settings.cors_origins == (
        "https://app.example.com/",
        "http://localhost:3000",
        "*",
    )
    assert settings.live_commit == "together"
    assert load(SYNCLINE_ALLOW_PRIVATE_WEBHOOKS="off").allow_private_webhooks is False


def test_unset_and_empty_values_take_the_defaults() -> None:
    assert load() == Settings()
    assert load(SYNCLINE_WEBHOOK_TIMEOUT_SECONDS="", SYNCLINE_DB_POOL_SIZE="") == Settings()


def test_a_data_dir_that_is_a_file_is_refused(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("")
    with pytest.raises(SettingsError, match=r"SYNCLINE_DATA_DIR=.*file: not a directory"):
        load(SYNCLINE_DATA_DIR=str(tmp_path / "file"))


def test_a_data_dir_under_a_file_is_refused_before_anything_runs(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("")
    with pytest.raises(SettingsError, match=r"cannot be made: .*file is not a directory"):
        load(SYNCLINE_DATA_DIR=str(tmp_path / "file" / "sub" / "dir"))


def test_a_data_dir_that_can_be_made_is_not_made_by_the_check(tmp_path: Path) -> None:
    assert load(SYNCLINE_DATA_DIR=str(tmp_path / "a" / "b")).data_dir == tmp_path / "a" / "b"
    assert not (tmp_path / "a").exists()


def test_previous_secret_keys_are_read_beside_a_current_key_and_never_echoed() -> None:
    settings = load(SYNCLINE_SECRET_KEY="new-key", SYNCLINE_SECRET_KEYS_PREVIOUS="old-2, old-1")
    assert settings.secret_keys_previous == ("old-2", "old-1")
    assert load(SYNCLINE_SECRET_KEY="new-key").secret_keys_previous == ()
    for environ, problem in [
        ({"SYNCLINE_SECRET_KEYS_PREVIOUS": "hunter2"}, "set without SYNCLINE_SECRET_KEY"),
        (
            {"SYNCLINE_SECRET_KEY": "k", "SYNCLINE_SECRET_KEYS_PREVIOUS": "hunter2,,x"},
            "an empty key",
        ),
    ]:
        with pytest.raises(SettingsError) as raised:
            load(**environ)
        assert str(raised.value).startswith(f"SYNCLINE_SECRET_KEYS_PREVIOUS: {problem}")
        assert "hunter2" not in str(raised.value)


def test_a_dotenv_file_is_read_beneath_the_environment(tmp_path: Path) -> None:
    dotenv = tmp_path / ".env"
    dotenv.write_text("# settings\nSYNCLINE_LOG_LEVEL=DEBUG\n\nSYNCLINE_DB_POOL_SIZE=4\n")
    settings = Settings.from_env({"SYNCLINE_DB_POOL_SIZE": "6"}, dotenv=dotenv)
    assert (settings.log_level, settings.db_pool_size) == ("DEBUG", 6)


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("SYNCLINE_LOG_LEVEL=DEBUG\nthis is not valid\n", "line 2 is not a setting"),
        ('SYNCLINE_ADMIN_TOKEN="unterminated\n', "line 1 is not a setting"),
    ],
)
def test_a_dotenv_line_that_is_not_a_setting_is_refused(
    tmp_path: Path, text: str, problem: str
) -> None:
    dotenv = tmp_path / ".env"
    dotenv.write_text(text)
    with pytest.raises(SettingsError, match=problem) as refused:
        Settings.from_env({}, dotenv=dotenv)
    assert "unterminated" not in str(refused.value)  # the line (maybe a secret) is not shown


def test_a_dotenv_file_that_is_not_utf8_is_refused(tmp_path: Path) -> None:
    dotenv = tmp_path / ".env"
    dotenv.write_bytes(b"SYNCLINE_LOG_LEVEL=\xff\n")
    with pytest.raises(SettingsError, match="not UTF-8"):
        Settings.from_env({}, dotenv=dotenv)
