"""A process waits for its database at start-up: opening the pool retries with backoff
while nothing answers, and succeeds once the server does."""

from __future__ import annotations

import socket
import threading
import time

import pytest
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from syncline import database
from tests.conftest import free_port


def pipe(source: socket.socket, target: socket.socket) -> None:
    try:
        while data := source.recv(65536):
            target.sendall(data)
    except OSError:
        pass
    finally:
        target.close()


def connect_to_server(host: str, port: int) -> socket.socket:
    """A connection to the server: its TCP port, or its Unix socket when `host` is a
    directory (the embedded server listens only there)."""
    if host.startswith("/"):
        unix = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        unix.connect(f"{host}/.s.PGSQL.{port}")
        return unix
    return socket.create_connection((host, port))


def forward_later(port: int, host: str, target_port: int, delay: float) -> socket.socket:
    """After `delay` seconds, listen on `port` and forward each connection to the server."""
    listener = socket.socket()
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)

    def serve() -> None:
        time.sleep(delay)
        listener.bind(("127.0.0.1", port))
        listener.listen()
        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                return
            server = connect_to_server(host, target_port)
            threading.Thread(target=pipe, args=(client, server), daemon=True).start()
            threading.Thread(target=pipe, args=(server, client), daemon=True).start()

    threading.Thread(target=serve, daemon=True).start()
    return listener


def test_opening_the_pool_waits_for_the_database(
    database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(database, "FIRST_RETRY_SECONDS", 0.2)
    params = conninfo_to_dict(database_url)
    port = free_port()
    url = make_conninfo(database_url, host="127.0.0.1", port=str(port))
    listener = forward_later(
        port, str(params.get("host") or "127.0.0.1"), int(params.get("port") or 5432), 2.0
    )
    try:
        started = time.monotonic()
        pool = database.open_pool(url, max_size=1, attempt_seconds=0.5)
        waited = time.monotonic() - started
        with pool.connection() as conn:
            assert conn.execute("SELECT 1").fetchone() == (1,)
        pool.close()
    finally:
        listener.close()
    assert 1.5 < waited < 15, waited
