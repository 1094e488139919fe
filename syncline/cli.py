"""The `syncline` command: serve, worker, dev, replay, migrate, audit, export."""

from __future__ import annotations

import argparse
import contextlib
import signal
import socket
import sys
import threading
from collections.abc import Callable, Iterator, Sequence
from typing import Any, TextIO

from projections.log_reader import DEFAULT_BATCH
from syncline import audit_cli, dev
from syncline.config import Settings, settings_or_refusal
from syncline.database import DataDirectoryError
from syncline.garbage_collection import CATCH_UP_YOUNG_THRESHOLD, settle_heap
from syncline.logs import configure_logging
from syncline.migrate import SchemaTooNewError
from syncline.runtime import Runtime, all_projections


def serve(
    runtime: Runtime,
    *,
    host: str = "127.0.0.1",
    port: int = 8000,
    sock: socket.socket | None = None,
) -> None:
    """Run the API in this process, on `sock` when the caller bound one already."""
    import uvicorn

    from api.app import create_app
    from syncline.asgi import settle_api_process

    class Server(uvicorn.Server):
        @contextlib.contextmanager
        def capture_signals(self) -> Iterator[None]:
            # uvicorn re-raises SIGTERM/SIGINT after a graceful shutdown, which would kill
            # the process before our cleanup (and the embedded PostgreSQL's) runs.
            previous = {sig: signal.signal(sig, self.handle_exit) for sig in HANDLED_SIGNALS}
            try:
                yield
            finally:
                for sig, handler in previous.items():
                    signal.signal(sig, handler)

    app = create_app(runtime.api_services())
    settle_api_process()
    config = uvicorn.Config(
        app, host=host, port=port, log_config=None, access_log=False, lifespan="on"
    )
    Server(config).run(sockets=[sock] if sock is not None else None)


HANDLED_SIGNALS = (signal.SIGINT, signal.SIGTERM)
# A worker's threads hand the GIL around every database round trip: a runner whose commit
# has come back waits for a busy thread (another runner decoding a batch) to let go, up to
# the switch interval, CPython's 5 ms by default. At 0.5 ms the change feed caught up 11%
# faster inside one worker (medians of five alternated runs; faster in all five pairs).
WORKER_SWITCH_INTERVAL = 0.0005


def cmd_serve(args: argparse.Namespace, settings: Settings) -> int:
    # Said plainly before anything starts, as `dev` says it (uvicorn would log an error
    # line after the database was reached). A port taken in between still fails there.
    busy = port_taken(args.host, args.port)
    if busy is not None:
        print(
            f"syncline serve: cannot listen on {args.host}:{args.port} ({busy});"
            " choose another port with --port",
            file=sys.stderr,
        )
        return 1
    if args.workers > 1:
        return _serve_workers(args, settings)
    runtime = Runtime.open(settings, role="api")
    try:
        serve(runtime, host=args.host, port=args.port)
    finally:
        runtime.close()
    return 0


def _serve_workers(args: argparse.Namespace, settings: Settings) -> int:
    """Several API processes (uvicorn workers), each with its own Runtime."""
    import os

    import uvicorn

    from syncline.database import resolve_database_url

    # Start (or find) the database once here, so every worker joins the same one.
    os.environ["DATABASE_URL"] = resolve_database_url(settings.database_url, settings.data_dir)
    uvicorn.run(
        "syncline.asgi:create",
        factory=True,
        host=args.host,
        port=args.port,
        workers=args.workers,
        log_config=None,
        access_log=False,
    )
    return 0


def cmd_worker(args: argparse.Namespace, settings: Settings) -> int:
    runtime = Runtime.open(settings, role="worker")
    settle_heap(CATCH_UP_YOUNG_THRESHOLD)
    sys.setswitchinterval(WORKER_SWITCH_INTERVAL)
    stop = threading.Event()
    for sig in HANDLED_SIGNALS:
        signal.signal(sig, lambda *_: stop.set())
    runtime.start_projections(args.projections)
    runtime.start_credential_expiry()
    runtime.start_audit_checkpoints()
    if args.delivery:
        runtime.start_delivery()
    try:
        stop.wait()
    finally:
        runtime.close()
    return 0


def replay(
    runtime: Runtime,
    name: str,
    *,
    batch_size: int = DEFAULT_BATCH,
    stream: TextIO | None = None,
) -> int:
    """Rebuild one projection from the log with a progress bar; answers the exit status."""
    from tqdm import tqdm

    from projections.leadership import ProjectionBusyError
    from projections.runner import ProjectionRunner

    stream = stream or sys.stderr
    runner = ProjectionRunner(
        runtime.app, runtime.pool, runtime.projection(name), batch_size=batch_size
    )
    bars: list[tqdm[Any]] = []

    def progress(done: int, total: int) -> None:
        if not bars:
            bars.append(tqdm(total=total, desc=f"replay {name}", unit=" events", file=stream))
        bars[0].update(done - bars[0].n)

    try:
        done = runner.rebuild(progress)
    except ProjectionBusyError as exc:
        print(f"syncline replay: {exc}", file=stream)
        return 1
    finally:
        for bar in bars:
            bar.close()
    print(f"replayed {done} events into projection {name}", file=stream)
    return 0


def cmd_replay(args: argparse.Namespace, settings: Settings) -> int:
    runtime = Runtime.open(settings, role="replay")
    # A replay decodes the whole log: as in a worker, keep the GC off start-up.
    settle_heap(CATCH_UP_YOUNG_THRESHOLD)
    try:
        return replay(runtime, args.projection, batch_size=args.batch_size)
    finally:
        runtime.close()


def cmd_migrate(args: argparse.Namespace, settings: Settings) -> int:
    from syncline.database import resolve_database_url
    from syncline.migrate import migrate

    url = resolve_database_url(settings.database_url, settings.data_dir)
    try:  # as the other one-shot commands: one attempt, not a server's wait
        audit_cli.reach_database(url)
        done = migrate(url, dry_run=args.dry_run)
    except (audit_cli.CommandError, SchemaTooNewError) as exc:
        print(f"syncline migrate: {exc}", file=sys.stderr)
        return audit_cli.USAGE
    if not done:
        print("the schema is up to date")
    for migration in done:
        print(f"{'would apply' if args.dry_run else 'applied'} {migration}")
    return 0


def projection_names(value: str) -> list[str]:
    known = [projection.name for projection in all_projections()]
    names = [name.strip() for name in value.split(",") if name.strip()]
    unknown = [name for name in names if name not in known]
    if unknown or not names:
        raise argparse.ArgumentTypeError(
            f"unknown projection {unknown[0] if unknown else value!r}; known: {', '.join(known)}"
        )
    return names


def port_taken(host: str, port: int) -> str | None:
    """Why `host:port` cannot be listened on now (None: it can), bound as uvicorn binds."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError as exc:
            return exc.strerror or str(exc)
    return None


def port_number(value: str) -> int:
    """A TCP port, 0 to 65535 (0: any free port); the system would take 99999 as 34463, and
    say nothing."""
    if not value.isdigit() or not 0 <= int(value) <= 65535:
        raise argparse.ArgumentTypeError(f"{value!r} is not a port (0 to 65535; 0: any free one)")
    return int(value)


def process_count(value: str) -> int:
    if not value.isdigit() or int(value) < 1:
        raise argparse.ArgumentTypeError(f"{value!r} is not a number of processes (1 or more)")
    return int(value)


def command_parser(sub: Any, name: str, text: str) -> argparse.ArgumentParser:
    """A (sub)command whose help says `text` and shows every argument's default."""
    parser: argparse.ArgumentParser = sub.add_parser(
        name, help=text, description=text, formatter_class=argparse.ArgumentDefaultsHelpFormatter
    )
    return parser


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="syncline",
        description=__doc__,
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    sub = parser.add_subparsers(dest="command", required=True)
    for name, help_text in (
        ("serve", "run the HTTP API"),
        ("dev", "API and worker in one process, with a demo tenant"),
    ):
        p = command_parser(sub, name, help_text)
        p.add_argument("--host", default="127.0.0.1", help="address to listen on")
        p.add_argument("--port", type=port_number, default=8000, help="port to listen on")
        if name == "serve":
            p.add_argument("--workers", type=process_count, default=1, help="API processes")
        else:
            dev.add_arguments(p)
    worker = command_parser(
        sub, "worker", "run the projections, webhook delivery and scheduled jobs"
    )
    worker.add_argument(
        "--projections",
        type=projection_names,
        default=None,
        help="comma-separated projections to run (all when not given), e.g. to spread them over"
        " processes or machines (the catch-up order reaches across them)",
    )
    worker.add_argument(
        "--delivery",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="send webhooks and run the delivery jobs here",
    )
    p = command_parser(
        sub, "replay", "rebuild a projection from the event log (refused while a worker runs it)"
    )
    p.add_argument(
        "projection",
        choices=[projection.name for projection in all_projections()],
        help="the projection to rebuild",
    )
    p.add_argument("--batch-size", type=int, default=DEFAULT_BATCH, help="events per transaction")
    p = command_parser(
        sub,
        "migrate",
        "apply the pending schema migrations (every process also does this on start)",
    )
    p.add_argument(
        "--dry-run", action="store_true", help="list the migrations that would run, run none"
    )
    COMMANDS.update(audit_cli.add_commands(sub))
    return parser


COMMANDS: dict[str, Callable[[argparse.Namespace, Settings], int]] = {
    "serve": cmd_serve,
    "worker": cmd_worker,
    "dev": dev.cmd_dev,
    "replay": cmd_replay,
    "migrate": cmd_migrate,
}


# Exit status of a command stopped by SIGINT (Ctrl-C) before it could stop gracefully (while
# it waits for its database): the shells' 128 + 2.
INTERRUPTED = 130


def main(argv: Sequence[str] | None = None) -> int:
    """Every command's entry: settings are read and checked here, once; a value that is not
    allowed is one line on standard error and exit status 2 (audit_cli.USAGE)."""
    args = build_parser().parse_args(argv)
    settings = settings_or_refusal()
    if settings is None:
        return audit_cli.USAGE
    configure_logging(settings.log_level, settings.log_format)
    try:
        return COMMANDS[args.command](args, settings)
    except DataDirectoryError as exc:
        print(f"syncline: {exc}", file=sys.stderr)
        return audit_cli.USAGE
    except SchemaTooNewError as exc:  # every process migrates on start (Runtime.open)
        name = " ".join(filter(None, (args.command, getattr(args, "audit_command", None))))
        print(f"syncline {name}: {exc}", file=sys.stderr)
        return audit_cli.USAGE
    except KeyboardInterrupt:
        # SIGINT before the command handles it (`serve` and `worker` do once started):
        # while waiting for the database, say, whose wait holds nothing to undo.
        return INTERRUPTED


if __name__ == "__main__":
    sys.exit(main())
