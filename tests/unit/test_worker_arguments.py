"""`syncline worker --projections` and `syncline replay` name projections that exist."""

from __future__ import annotations

import pytest

from syncline.cli import build_parser


def test_a_worker_can_run_some_projections_only() -> None:
    parser = build_parser()
    assert parser.parse_args(["worker"]).projections is None
    args = parser.parse_args(["worker", "--projections", "records, events"])
    assert args.projections == ["records", "events"]


@pytest.mark.parametrize(
    "argv",
    [["worker", "--projections", "records,nope"], ["worker", "--projections", ","], ["replay"]],
)
def test_unknown_projections_are_refused(
    argv: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exited:
        build_parser().parse_args(argv)
    assert exited.value.code == 2
    assert "projection" in capsys.readouterr().err


def test_replay_takes_a_known_projection() -> None:
    assert build_parser().parse_args(["replay", "events"]).projection == "events"
    with pytest.raises(SystemExit):
        build_parser().parse_args(["replay", "contacts"])
