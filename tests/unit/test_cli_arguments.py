"""The commands' arguments are checked before anything runs: a port outside 1-65535 or a
process count under 1 is a usage error (exit 2), not a server on another port; a port
taken, or a data directory that cannot be made, is one line on standard error."""

from __future__ import annotations

import os
import socket
import subprocess
import sys

import pytest

from syncline.cli import build_parser


@pytest.mark.parametrize("port", ["99999", "0", "-1", "65536", "http"])
@pytest.mark.parametrize("command", ["serve", "dev"])
def test_a_port_outside_the_range_is_refused(
    command: str, port: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exited:
        build_parser().parse_args([command, f"--port={port}"])
    assert exited.value.code == 2
    assert "is not a port (1 to 65535)" in capsys.readouterr().err


@pytest.mark.parametrize("workers", ["0", "-3", "two"])
def test_fewer_than_one_api_process_is_refused(
    workers: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exited:
        build_parser().parse_args(["serve", f"--workers={workers}"])
    assert exited.value.code == 2
    assert "is not a number of processes (1 or more)" in capsys.readouterr().err


def test_ports_and_process_counts_in_range_are_taken() -> None:
    args = build_parser().parse_args(["serve", "--port", "65535", "--workers", "3"])
    assert (args.port, args.workers) == (65535, 3)
    assert build_parser().parse_args(["dev", "--port", "1"]).port == 1


def test_a_data_dir_the_system_will_not_make_is_one_line_and_exit_2() -> None:
    # /proc takes no new directory, even from root (whom the settings check cannot refuse
    # without trying): the embedded database's start says so instead of a traceback.
    environ = {k: v for k, v in os.environ.items() if k != "DATABASE_URL"}
    answer = subprocess.run(
        [sys.executable, "-m", "syncline.cli", "migrate", "--dry-run"],
        env={**environ, "SYNCLINE_DATA_DIR": "/proc/syncline-test/data"},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert answer.returncode == 2, answer.stderr
    assert "Traceback" not in answer.stderr
    assert "SYNCLINE_DATA_DIR=/proc/syncline-test/data: cannot be made" in answer.stderr


def test_serve_on_a_taken_port_says_so_before_anything_starts() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        answer = subprocess.run(
            [sys.executable, "-m", "syncline.cli", "serve", "--port", str(port)],
            env={**os.environ, "DATABASE_URL": "postgresql://nobody@127.0.0.1:1/none"},
            capture_output=True,
            text=True,
            timeout=120,
        )
    assert answer.returncode == 1, answer.stderr
    assert answer.stderr.strip() == (
        f"syncline serve: cannot listen on 127.0.0.1:{port} (Address already in use);"
        " choose another port with --port"
    )
