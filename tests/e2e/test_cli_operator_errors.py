"""The `syncline` command's failures as an operator meets them: a setting that is not
allowed, a database that cannot be reached by `migrate`, Ctrl-C while a server waits for
its database. Each is at most one line on standard error and a distinct exit status,
never a traceback."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import psycopg
import pytest

from syncline import cli
from tests.conftest import ROOT, free_port
from tests.support.poll import wait_until

# Every command, with the arguments it needs to get as far as reading its settings.
COMMANDS = [
    ["serve"],
    ["serve", "--workers", "2"],
    ["worker"],
    ["dev", "--port", "0"],
    ["migrate"],
    ["migrate", "--dry-run"],
    ["replay", "records"],
    ["audit", "verify"],
    ["audit", "checkpoint"],
    ["export", "--tenant", "00000000-0000-0000-0000-000000000001"],
]

# What an operator review found, each with the line now printed instead.
NOT_ALLOWED = [
    (
        "SYNCLINE_WEBHOOK_TIMEOUT_SECONDS",
        "abc",
        "syncline: SYNCLINE_WEBHOOK_TIMEOUT_SECONDS=abc: not a number of seconds;"
        " allowed: a number of seconds above 0",
    ),
    (
        "SYNCLINE_WEBHOOK_TIMEOUT_SECONDS",
        "-5",
        "syncline: SYNCLINE_WEBHOOK_TIMEOUT_SECONDS=-5: too small;"
        " allowed: a number of seconds above 0",
    ),
    (
        "SYNCLINE_DB_POOL_SIZE",
        "-1",
        "syncline: SYNCLINE_DB_POOL_SIZE=-1: too small; allowed: a whole number, at least 1",
    ),
    (
        "SYNCLINE_LOG_LEVEL",
        "LOUD",
        "syncline: SYNCLINE_LOG_LEVEL=LOUD: not a log level;"
        " allowed: DEBUG, INFO, WARNING, ERROR, CRITICAL",
    ),
    (
        "SYNCLINE_RATE_LIMIT_BURST",
        "-3",
        "syncline: SYNCLINE_RATE_LIMIT_BURST=-3: too small; allowed: a whole number, at least 1",
    ),
    (
        "SYNCLINE_AUDIT_SIGNING_KEY",
        "notbase64",
        "syncline: SYNCLINE_AUDIT_SIGNING_KEY: not base64;"
        " allowed: the base64 of a 32-byte Ed25519 seed",
    ),
    (
        "SYNCLINE_LOG_FORMAT",
        "xml",
        "syncline: SYNCLINE_LOG_FORMAT=xml: not a log format; allowed: auto, json, console",
    ),
    (
        "SYNCLINE_WEBHOOK_CONCURRENCY",
        "0",
        "syncline: SYNCLINE_WEBHOOK_CONCURRENCY=0: too small; allowed: a whole number, at least 1",
    ),
]


def unreachable_database() -> str:
    """A URL nothing listens at: no command may get as far as trying it."""
    return f"postgresql://postgres@127.0.0.1:{free_port()}/syncline"


def environment(**variables: str) -> dict[str, str]:
    inherited = {
        name: value
        for name, value in os.environ.items()
        if not name.startswith("SYNCLINE_") and name != "DATABASE_URL"
    }
    return {**inherited, "PYTHONPATH": str(ROOT), "DATABASE_URL": unreachable_database()} | (
        variables
    )


@pytest.mark.parametrize("command", COMMANDS, ids=" ".join)
@pytest.mark.parametrize(("variable", "value", "line"), NOT_ALLOWED, ids=lambda v: str(v)[:40])
def test_every_command_refuses_a_setting_not_allowed_in_one_line(
    command: list[str],
    variable: str,
    value: str,
    line: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
) -> None:
    monkeypatch.chdir(tmp_path)  # no .env file
    for name in os.environ:
        if name.startswith("SYNCLINE_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("DATABASE_URL", unreachable_database())
    monkeypatch.setenv(variable, value)

    def accepted(*args: object) -> None:
        raise AssertionError(f"{variable}={value} was accepted")

    # Logging is configured once the settings are read, before any command runs.
    monkeypatch.setattr(cli, "configure_logging", accepted)
    assert cli.main(command) == 2
    out, err = capsys.readouterr()
    assert (out, err) == ("", line + "\n")


def test_the_command_itself_prints_the_line_and_exits_2_without_a_traceback(
    tmp_path: Path,
) -> None:
    """The real entry point, each command in a process of its own (run together)."""
    processes = [
        (
            command,
            subprocess.Popen(
                [sys.executable, "-m", "syncline.cli", *command],
                cwd=tmp_path,
                env=environment(**{variable: value}),
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            ),
            line,
        )
        for command, (variable, value, line) in zip(
            COMMANDS, NOT_ALLOWED + NOT_ALLOWED, strict=False
        )
    ]
    try:
        for command, process, line in processes:
            out, err = process.communicate(timeout=60)
            assert (process.returncode, out, err) == (2, "", line + "\n"), command
    finally:
        for _, process, _ in processes:
            if process.poll() is None:
                process.kill()
                process.wait()


def test_the_secret_key_and_admin_token_are_never_echoed(tmp_path: Path) -> None:
    """They take any text: nothing to refuse; a bad one elsewhere does not show them."""
    answer = subprocess.run(
        [sys.executable, "-m", "syncline.cli", "migrate"],
        cwd=tmp_path,
        env=environment(
            SYNCLINE_SECRET_KEY="s3cret-key-value",
            SYNCLINE_ADMIN_TOKEN="adm_s3cret-token",
            SYNCLINE_LOG_LEVEL="LOUD",
        ),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert answer.returncode == 2
    assert "s3cret" not in answer.stdout + answer.stderr


@pytest.mark.parametrize("dry_run", [[], ["--dry-run"]], ids=["migrate", "dry-run"])
def test_migrate_says_in_one_line_that_it_cannot_reach_the_database(
    tmp_path: Path, dry_run: list[str]
) -> None:
    started = time.monotonic()
    answer = subprocess.run(
        [sys.executable, "-m", "syncline.cli", "migrate", *dry_run],
        cwd=tmp_path,
        env=environment(),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert answer.returncode == 2, answer.stderr
    assert answer.stdout == ""
    lines = answer.stderr.splitlines()
    assert len(lines) == 1, answer.stderr
    assert lines[0].startswith("syncline migrate: cannot reach the database: connection failed")
    assert "Connection refused" in lines[0]
    assert time.monotonic() - started < 30


def _default_sigint() -> None:
    # A process started in the background may have inherited SIGINT ignored, which Python
    # keeps: give the command the SIGINT a terminal's Ctrl-C would reach.
    signal.signal(signal.SIGINT, signal.SIG_DFL)


@pytest.mark.parametrize("command", [["serve", "--port", "0"], ["worker"]], ids=" ".join)
def test_ctrl_c_while_waiting_for_the_database_exits_quietly(
    tmp_path: Path, command: list[str]
) -> None:
    process = subprocess.Popen(
        [sys.executable, "-m", "syncline.cli", *command],
        cwd=tmp_path,
        env=environment(SYNCLINE_LOG_FORMAT="json"),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        preexec_fn=_default_sigint,
    )
    lines: list[str] = []
    assert process.stdout is not None
    reader = threading.Thread(target=lambda: lines.extend(process.stdout or ()), daemon=True)
    reader.start()
    try:
        waiting = wait_until(
            lambda: any("error connecting" in line or "retrying" in line for line in lines), 60
        )
        assert waiting, "".join(lines)
        before = len(lines)
        process.send_signal(signal.SIGINT)
        status = process.wait(timeout=10)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    reader.join(timeout=10)
    output = "".join(lines)
    assert status == 130, output
    assert "Traceback" not in output
    assert "KeyboardInterrupt" not in output
    assert len(lines) - before <= 1, output


def test_a_database_a_later_version_migrated_is_refused_in_one_line(
    fresh_database: str, tmp_path: Path
) -> None:
    """By `migrate`, and by the commands that migrate as they start."""

    def syncline(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "syncline.cli", *args],
            cwd=tmp_path,
            env=environment(DATABASE_URL=fresh_database, SYNCLINE_LOG_LEVEL="ERROR"),
            capture_output=True,
            text=True,
            timeout=120,
        )

    assert syncline("migrate").returncode == 0
    with psycopg.connect(fresh_database, autocommit=True) as conn:
        conn.execute("INSERT INTO syncline_migrations (version, name) VALUES (9999, 'later')")
    for command in (["migrate"], ["migrate", "--dry-run"], ["worker"], ["serve", "--port", "0"]):
        answer = syncline(*command)
        assert answer.returncode == 2, answer.stderr
        assert answer.stdout == ""
        assert answer.stderr.startswith(
            f"syncline {command[0]}: the database's schema is at migration 9999_later,"
            " newer than this Syncline knows"
        ), answer.stderr
        assert len(answer.stderr.splitlines()) == 1, answer.stderr
