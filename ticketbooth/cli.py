"""The ``ticketbooth`` command: ``serve`` (the API), ``gateway`` (the S3 gateway), ``token`` (development tokens), ``openapi`` (the spec),
and the client commands of :mod:`ticketbooth.client.commands` (``login``, ``share``, ``tickets``, ``credentials``).

Each subcommand is one ``add_<name>(subparsers)`` function that registers its parser and handler, listed in
:data:`SUBCOMMANDS`; adding a subcommand is one function and one entry there. Every subcommand reads the same
configuration: ``--config FILE`` (else ``$TICKETBOOTH_CONFIG``), then ``TICKETBOOTH_*`` variables, then flags.

Exit status: 0 on success, 2 for a usage or configuration error (with a message on stderr); the client
commands add the statuses of :data:`ticketbooth.client.commands.EXIT_STATUS`.
"""
from __future__ import annotations

import argparse
import dataclasses
import logging
import os
import secrets
import sys
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from .client.commands import CLIENT_SUBCOMMANDS
from .cpus import usable_cpus
from .errors import ConfigError
from .logs import TEXT_FORMAT, configure_logging
from .serving import GATEWAY_THREADS
from .settings import Settings, load_settings

__all__ = ["SUBCOMMANDS", "DEV_SECRET_FILE", "build_parser", "main", "load_cli_settings", "dev_secret"]

log = logging.getLogger("ticketbooth.cli")

DEV_SECRET_FILE = "dev-secret"


class CommandError(Exception):
    """A failure the command reports as a message and exit status 2 (no traceback)."""


def _add_config_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", metavar="FILE", help="TOML configuration file (default: $TICKETBOOTH_CONFIG)")
    parser.add_argument("--data-dir", metavar="DIR", help="data directory of the embedded backend")


def _add_listen_options(parser: argparse.ArgumentParser, section: str, default_port: int) -> None:
    parser.add_argument("--host", help=f"address to listen on (default: {section}.host, 127.0.0.1)")
    parser.add_argument("--port", type=int, help=f"port to listen on (default: {section}.port, {default_port})")


def _add_worker_options(parser: argparse.ArgumentParser, *, workers: int = 1, threads: int = 8,
                        workers_help: str = "worker processes (default 1)") -> None:
    parser.add_argument("--workers", type=int, default=workers, help=workers_help)
    parser.add_argument("--threads", type=int, default=threads, help=f"threads per worker (default {threads})")


def load_cli_settings(args: argparse.Namespace, extra: dict[str, Any] | None = None) -> Settings:
    """Settings from ``--config``, the environment and the flags every subcommand shares."""
    overrides: dict[str, Any] = dict(extra or {})
    if getattr(args, "data_dir", None):
        overrides["data_dir"] = args.data_dir
    return load_settings(args.config, overrides=overrides)


def _listen_overrides(args: argparse.Namespace, section: str) -> dict[str, Any]:
    """``--host``/``--port`` as overrides of ``section`` (``server`` or ``gateway``)."""
    listen: dict[str, Any] = {}
    if args.host:
        listen["host"] = args.host
    if args.port is not None:
        listen["port"] = args.port
    return {section: listen}


def dev_secret(settings: Settings, *, create: bool) -> str | None:
    """The development HS256 secret kept in ``<data_dir>/dev-secret`` (0600), made when ``create``."""
    path = Path(settings.data_dir) / DEV_SECRET_FILE
    try:
        return path.read_text(encoding="utf-8").strip() or None
    except FileNotFoundError:
        if not create:
            return None
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    secret = secrets.token_urlsafe(48)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:  # another process made it first: use theirs
        return path.read_text(encoding="utf-8").strip()
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(secret + "\n")
    return secret


def _with_dev_secret(settings: Settings, *, create: bool) -> Settings:
    if settings.auth.mode != "hs256" or settings.auth.hs256_secret:
        return settings
    secret = dev_secret(settings, create=create)
    if secret is None:
        return settings
    if len(secret.encode()) < 32:
        raise CommandError(f"{Path(settings.data_dir) / DEV_SECRET_FILE} holds a secret shorter than 32 bytes")
    return settings.replace(auth=dataclasses.replace(settings.auth, hs256_secret=secret))


def _announce(settings: Settings, text: str) -> None:
    """A start-up line for the operator: plain on stderr, or a log record when every line must be JSON."""
    if settings.log_format == "json":
        log.info(text)
    else:
        print(text, file=sys.stderr)


# -- serve -------------------------------------------------------------------------------------------------

def _serve(args: argparse.Namespace) -> int:
    settings = load_cli_settings(args, _listen_overrides(args, "server"))
    configure_logging(settings.log_format, settings.log_level)
    if args.demo:
        if settings.backend != "embedded":
            raise CommandError("--demo needs the embedded backend")
        settings = _with_dev_secret(settings, create=True)
        from .backends import load_backend
        from .demo import seed_demo

        backend = load_backend(settings)
        try:
            seed_demo(backend)
        finally:
            backend.close()
    if settings.auth.mode == "hs256" and not settings.auth.hs256_secret:
        log.warning("no auth.hs256_secret is configured: every API request will be refused (try --demo)")
    url = f"http://{settings.server.host}:{settings.server.port}"
    _announce(settings, f"TicketBooth API on {url} (docs: {url}/docs), data in {os.path.abspath(settings.data_dir)}")
    if args.demo:
        where = f" --data-dir {args.data_dir}" if args.data_dir else ""
        _announce(settings, f"Demo users alice and bob; get a token: ticketbooth token --user alice{where}")
    _run_server(settings, threads=args.threads, workers=args.workers)
    return 0


def _run_server(settings: Settings, *, threads: int, workers: int) -> None:
    from .app import create_app

    try:
        from .gunicornlog import TicketBoothLogger
        from .serving import run_gunicorn
    except ImportError:  # pragma: no cover - gunicorn is a dependency; this keeps non-POSIX systems working
        create_app(settings).run(settings.server.host, settings.server.port, threaded=True)
        return

    # `serve` needs no control socket (gunicorn >= 24 opens one under ~/.gunicorn).
    run_gunicorn(lambda: create_app(settings), host=settings.server.host, port=settings.server.port,
                 workers=workers, threads=threads, log_level=settings.log_level, metrics=settings.metrics,
                 timeout=60, logger_class=TicketBoothLogger,
                 control_socket_disable=True)


def add_serve(subparsers: Any) -> None:
    parser = subparsers.add_parser("serve", help="run the API server (gunicorn, threaded)",
                                   description="Run the TicketBooth API.")
    _add_listen_options(parser, "server", 8080)
    _add_config_options(parser)
    parser.add_argument("--demo", action="store_true",
                        help="seed demo data and, without auth.hs256_secret, use a development secret kept in "
                             "<data-dir>/dev-secret (that 'ticketbooth token' reads too)")
    _add_worker_options(parser)
    parser.set_defaults(handler=_serve)


# -- token -------------------------------------------------------------------------------------------------

def _token(args: argparse.Namespace) -> int:
    from .api.auth import issue_dev_token

    settings = _with_dev_secret(load_cli_settings(args), create=False)
    if not settings.auth.hs256_secret:
        raise CommandError(
            "no development token secret is configured: set auth.hs256_secret (TICKETBOOTH_AUTH__HS256_SECRET), "
            "or run 'ticketbooth serve --demo' with the same --data-dir first"
        )
    if settings.auth.mode != "hs256":
        print("warning: auth.mode is not 'hs256'; the server will not accept this token", file=sys.stderr)
    print(issue_dev_token(settings, args.user, args.admin, datetime.now(UTC), lifetime=args.lifetime))
    return 0


def add_token(subparsers: Any) -> None:
    parser = subparsers.add_parser("token", help="print a development token (HS256)",
                                   description="Print a development bearer token signed with auth.hs256_secret.")
    parser.add_argument("--user", required=True, help="the iRODS user name the token names")
    parser.add_argument("--admin", action="store_true", help="grant the admin role")
    parser.add_argument("--lifetime", type=int, metavar="SECONDS",
                        help="seconds until the token expires (default: auth.dev_token_lifetime)")
    _add_config_options(parser)
    parser.set_defaults(handler=_token)


# -- openapi -----------------------------------------------------------------------------------------------

def _openapi(args: argparse.Namespace) -> int:
    from .openapi import render_spec

    text = render_spec()
    if args.output == "-":
        sys.stdout.write(text)
    else:
        Path(args.output).write_text(text, encoding="utf-8")
    return 0


def add_openapi(subparsers: Any) -> None:
    parser = subparsers.add_parser("openapi", help="write the OpenAPI document",
                                   description="Write the OpenAPI document the API serves at /openapi.json.")
    parser.add_argument("--output", "-o", default="openapi/openapi.json", help="file to write, '-' for stdout")
    parser.set_defaults(handler=_openapi)


# -- gateway -----------------------------------------------------------------------------------------------

def _gateway(args: argparse.Namespace) -> int:
    settings = load_cli_settings(args, _listen_overrides(args, "gateway"))
    configure_logging(settings.log_format, settings.log_level)
    from .gateway.server import serve_gateway

    _announce(settings, f"TicketBooth S3 gateway on http://{settings.gateway.host}:{settings.gateway.port}, "
                        f"data in {os.path.abspath(settings.data_dir)}")
    serve_gateway(settings, threads=args.threads, workers=args.workers)
    return 0


def add_gateway(subparsers: Any) -> None:
    parser = subparsers.add_parser("gateway", help="run the S3 gateway and anonymous links (gunicorn, threaded)",
                                   description="Run the reference S3 gateway (also serves /_t/ anonymous links).")
    _add_listen_options(parser, "gateway", 9000)
    _add_config_options(parser)
    cpus = usable_cpus()
    _add_worker_options(parser, workers=cpus, threads=GATEWAY_THREADS,
                        workers_help=f"worker processes (default: one per usable CPU, {cpus} here: the "
                                     "affinity mask, or the cgroup CPU quota if lower)")
    parser.set_defaults(handler=_gateway)


#: One registration function per subcommand, in the order ``--help`` lists them.
SUBCOMMANDS: list[Callable[[Any], None]] = [add_serve, add_gateway, add_token, add_openapi, *CLIENT_SUBCOMMANDS]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="ticketbooth", description="Ticket-based access broker for iRODS.")
    subparsers = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for register in SUBCOMMANDS:
        register(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit status."""
    logging.basicConfig(level=logging.INFO, format=TEXT_FORMAT)
    args = build_parser().parse_args(argv)
    try:
        return args.handler(args)
    except (CommandError, ConfigError) as err:
        message = err.message if isinstance(err, ConfigError) else str(err)
        print(f"ticketbooth {args.command}: {message}", file=sys.stderr)
        return 2


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
