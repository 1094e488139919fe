"""The embedded PostgreSQL's list of the processes using it forgets those that are gone, so
a `syncline dev` killed with -9 does not keep the server running after every later one."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from syncline.database import forget_dead_handles


def a_dead_pid() -> int:
    process = subprocess.Popen([sys.executable, "-c", "pass"])
    process.wait()
    return process.pid


def test_the_pids_of_processes_gone_are_dropped(tmp_path: Path) -> None:
    dead = a_dead_pid()
    handles = tmp_path / ".handle_pids.json"
    handles.write_text(json.dumps([dead, os.getpid()]))
    assert forget_dead_handles(tmp_path) == [dead]
    assert json.loads(handles.read_text()) == [os.getpid()]
    assert forget_dead_handles(tmp_path) == []  # nothing more to forget
    assert json.loads(handles.read_text()) == [os.getpid()]


def test_no_list_yet_is_nothing_to_forget(tmp_path: Path) -> None:
    assert forget_dead_handles(tmp_path) == []
    assert not (tmp_path / ".handle_pids.json").exists()
