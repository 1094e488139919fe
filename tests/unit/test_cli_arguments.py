"""The commands' arguments are checked before anything runs: a port outside 1-65535 or a
process count under 1 is a usage error (exit 2), not a server on another port (0 still
means any free port)."""

from __future__ import annotations

import pytest

from syncline.cli import build_parser


@pytest.mark.parametrize("port", ["99999", "-1", "65536", "http"])
@pytest.mark.parametrize("command", ["serve", "dev"])
def test_a_port_outside_the_range_is_refused(
    command: str, port: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exited:
        build_parser().parse_args([command, f"--port={port}"])
    assert exited.value.code == 2
    assert "is not a port (0 to 65535; 0: any free one)" in capsys.readouterr().err


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
    assert build_parser().parse_args(["serve", "--port", "0"]).port == 0  # any free port


def test_a_required_option_shows_no_default_in_help() -> None:
    parser = build_parser()
    (export,) = [
        choice
        for action in parser._subparsers._group_actions  # type: ignore[union-attr]
        for name, choice in action.choices.items()  # type: ignore[union-attr]
        if name == "export"
    ]
    text = export.format_help()
    assert "--tenant TENANT  the tenant to export (its id)\n" in text  # no default
    args = parser.parse_args(["export", "--tenant", "00000000-0000-0000-0000-000000000001"])
    assert str(args.tenant) == "00000000-0000-0000-0000-000000000001"
