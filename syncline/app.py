"""The application as every process constructs it: the domain's, with group commit on the
event store and the inline projections written in its transactions."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from psycopg.conninfo import conninfo_to_dict

from domain.application import Syncline
from projections.protocol import Projection
from syncline.database import RECONNECT_SECONDS, SiblingCheck, eventsourcing_env
from syncline.group_commit import GroupCommitRecorder, GroupCommitSaves


class GroupCommitSyncline(GroupCommitSaves, Syncline):
    """The application with group commit on the event store (see syncline.group_commit)."""

    name = Syncline.name  # the events table is named after it: keep it stable

    def __init__(
        self,
        database_url: str,
        pool_size: int,
        max_overflow: int | None = None,
        inline: Sequence[Projection] = (),
    ) -> None:
        self.database_url = database_url
        self.inline = inline  # the projections written with their events (syncline.inline)
        super().__init__(env=eventsourcing_env(database_url, pool_size, max_overflow))

    def construct_recorder(self) -> Any:
        recorder: Any = super().construct_recorder()
        pool = recorder.datastore.pool
        # Its pool checks connections at checkout (POSTGRES_PRE_PING), and all of them once
        # one is found dead: the log reader is back at once after backends are terminated.
        SiblingCheck().attach(pool)
        # Its reconnection attempts stop backing off after RECONNECT_SECONDS, as ours do.
        pool.reconnect_timeout = RECONNECT_SECONDS
        # The library connects with its own parameters: its sessions carry the process's
        # name too (those made while it created its tables are replaced).
        name = conninfo_to_dict(self.database_url).get("application_name")
        if name and isinstance(pool.kwargs, dict):
            pool.kwargs["application_name"] = name
            pool.drain()
        return GroupCommitRecorder(recorder, self.database_url, self.inline)
