"""The client subcommands of ``ticketbooth``: ``login``, ``share``, ``tickets``, ``credentials``.

Each ``add_<name>(subparsers)`` registers a parser whose handler returns an exit status (the table is
:data:`EXIT_STATUS`). Results go to stdout (a table or text for people; JSON with ``--json``), everything else
to stderr, so ``ticketbooth credentials 7 --format mc > ~/.mc/config.json`` works.
"""
from __future__ import annotations

import argparse
import functools
import json
import sys
from collections.abc import Callable, Mapping
from typing import Any

from ..errors import TicketBoothError
from .durations import parse_duration
from .http import ApiClient, ApiError
from .install import INSTALLABLE, install_profile
from .login import login_file, resolve, write_login
from .output import TICKET_COLUMNS, table, ticket_details, ticket_rows

__all__ = ["CLIENT_SUBCOMMANDS", "EXIT_STATUS", "EXIT_USAGE", "UsageError", "exit_status", "add_login", "add_share", "add_tickets",
           "add_credentials"]

#: Exit status by the HTTP status of the API's answer (0 for "no answer").
EXIT_STATUS = {
    401: 3,  # unauthenticated: no token, or an expired or invalid one
    403: 4,  # permission_denied: not the owner, not a holder
    404: 5,  # ticket_not_found, path_not_found
    409: 6,  # conflict
    400: 7,  # bad_request, config_file_invalid, login_file_invalid
    422: 7,  # validation_error, invalid_request, invalid_path
    0: 8,    # unreachable: no connection to the API
}
#: 5xx (backend_unavailable, internal_error) and any other status; a usage error (as argparse's).
EXIT_UNAVAILABLE, EXIT_OTHER, EXIT_USAGE = 8, 1, 2


class UsageError(TicketBoothError):
    """The options ask for something the command cannot do (found before asking the API)."""

    code = "usage_error"
    status = 0


def exit_status(error: TicketBoothError) -> int:
    if isinstance(error, UsageError):
        return EXIT_USAGE
    status = getattr(error, "status", 0)
    if status >= 500:
        return EXIT_UNAVAILABLE
    return EXIT_STATUS.get(status, EXIT_OTHER)


def _client_options() -> argparse.ArgumentParser:
    parent = argparse.ArgumentParser(add_help=False)
    group = parent.add_argument_group("API")
    group.add_argument("--api-url", metavar="URL",
                       help="the API (default: $TICKETBOOTH_API_URL, the login file, http://127.0.0.1:8080)")
    group.add_argument("--token", help="bearer token (default: $TICKETBOOTH_TOKEN, else the login file)")
    group.add_argument("--json", action="store_true", help="print JSON for scripts instead of text")
    return parent


def _client(args: argparse.Namespace) -> ApiClient:
    login = resolve(args.api_url, args.token)
    return ApiClient(login.api_url, login.token)


def _handled(handler: Callable[[argparse.Namespace], int]) -> Callable[[argparse.Namespace], int]:
    """Report the API's (or the client's) error as ``code: message`` on stderr, JSON with ``--json``."""

    @functools.wraps(handler)
    def run(args: argparse.Namespace) -> int:
        try:
            return handler(args)
        except TicketBoothError as err:
            status = exit_status(err)
            if getattr(args, "json", False):
                print(json.dumps({"code": err.code, "message": err.message, "details": err.details}),
                      file=sys.stderr)
            else:
                command = " ".join(part for part in (args.command, getattr(args, "action", None)) if part)
                extra = f" ({json.dumps(err.details, sort_keys=True)})" if err.details else ""
                print(f"ticketbooth {command}: {err.code}: {err.message}{extra}", file=sys.stderr)
            return status

    return run


def _duration(text: str) -> int:
    try:
        return parse_duration(text)
    except ValueError as err:
        raise argparse.ArgumentTypeError(str(err)) from None


def _print_json(value: Any) -> None:
    print(json.dumps(value, indent=2, sort_keys=True))


# -- login -------------------------------------------------------------------------------------------------

@_handled
def _login(args: argparse.Namespace) -> int:
    if args.token == "-":  # from standard input: a token in argv is visible to every user in `ps`
        args.token = sys.stdin.readline().strip() or None
        if not args.token:
            raise UsageError("no token on standard input")
    login = resolve(args.api_url, args.token)
    if not login.token:
        raise ApiError("unauthenticated", "give the token with --token (or $TICKETBOOTH_TOKEN)", status=401)
    client = ApiClient(login.api_url, login.token)
    next(client.list_tickets(limit=1), None)  # a token the API refuses is not saved
    path = login_file()
    write_login(path, client.base_url, login.token)
    if args.json:
        _print_json({"api_url": client.base_url, "login_file": str(path)})
    else:
        print(f"Logged in to {client.base_url}; token saved in {path}", file=sys.stderr)
    return 0


def add_login(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "login", parents=[_client_options()], help="save the API URL and a bearer token for the client commands",
        description="Check a bearer token against the API and save it (with the API URL) in "
                    "~/.config/ticketbooth/login.json, readable by you only. '--token -' reads it from "
                    "standard input.")
    parser.set_defaults(handler=_login)


# -- share -------------------------------------------------------------------------------------------------

def _limits(args: argparse.Namespace) -> dict[str, Any]:
    fields: dict[str, Any] = {}
    for flag, field in (("users", "users"), ("groups", "groups"), ("hosts", "hosts"), ("uses", "uses_limit"),
                        ("write_files", "write_file_limit"), ("write_bytes", "write_byte_limit"),
                        ("expires", "expires_in")):
        value = getattr(args, flag, None)
        if value is not None:
            fields[field] = value
    return fields


@_handled
def _share(args: argparse.Namespace) -> int:
    client = _client(args)
    fields = _limits(args)
    if args.write:
        fields["access"] = "write"
    if args.anonymous:
        fields["anonymous"] = True
    if args.label is not None:
        fields["label"] = args.label
    ticket = client.create_ticket(args.path, **fields)
    holds_keys = ticket.get("credentials") is not None  # not when the allow-lists leave the owner out
    handout: str | None = None
    if args.anonymous:
        handout = (ticket.get("links") or {}).get("public", "")
    elif not holds_keys:
        handout = str(ticket["id"])
    elif not args.json and args.format != "json":
        try:
            handout = client.credentials(ticket["id"], args.format)
        except ApiError:
            # Nothing half-done: a ticket whose credentials cannot be shown as asked is taken back.
            client.revoke_ticket(ticket["id"])
            raise
    if args.json:
        _print_json(ticket)
        return 0
    print(_share_summary(ticket), file=sys.stderr)
    if handout is None:
        _print_json(ticket["credentials"])
    else:
        sys.stdout.write(handout if handout.endswith("\n") else handout + "\n")
    return 0


def _share_summary(ticket: dict[str, Any]) -> str:
    summary = f"Ticket {ticket['id']}: {ticket['access']} access to {ticket['path']}"
    if ticket.get("anonymous"):
        return summary + f" for anyone with the link, until {ticket.get('expires_at')}"
    summary += f", expires {ticket.get('expires_at') or 'never'}"
    others = [u for u in ticket.get("users", []) if u != ticket.get("owner")]
    others += [f"members of {g}" for g in ticket.get("groups", [])]
    if others:
        summary += (f". For {', '.join(others)}: 'ticketbooth credentials {ticket['id']} --install' "
                    "sets up their own keys")
    if ticket.get("credentials") is None:
        summary += ". You are not on its allow-list, so you hold no keys for it; the ticket id is printed"
    return summary


def _add_limit_options(parser: argparse.ArgumentParser, *, update: bool) -> None:
    names = "*" if update else "+"
    more = " (none given: clear the list)" if update else ""
    parser.add_argument("--users", nargs=names, metavar="USER", help="users who may use the ticket" + more)
    parser.add_argument("--groups", nargs=names, metavar="GROUP", help="groups whose members may use it" + more)
    parser.add_argument("--hosts", nargs=names, metavar="HOST", help="client addresses or CIDR networks" + more)
    parser.add_argument("--expires", type=_duration, metavar="DURATION",
                        help="expire after this long from now: 90 (seconds), 30m, 12h, 7d, 2w")
    parser.add_argument("--uses", type=int, metavar="N", help="uses allowed (0: no limit)")
    parser.add_argument("--write-files", type=int, metavar="N", help="files that may be written (0: no limit)")
    parser.add_argument("--write-bytes", type=int, metavar="N", help="bytes that may be written (0: no limit)")


def add_share(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "share", parents=[_client_options()], help="create a ticket and print what to hand out",
        description="Create a ticket on PATH. Prints the public link (--anonymous), else the S3 credentials in "
                    "--format; a summary goes to stderr.")
    parser.add_argument("path", metavar="PATH", help="absolute iRODS path (a collection or a data object)")
    parser.add_argument("--write", action="store_true", help="allow writing (default: read only)")
    parser.add_argument("--anonymous", action="store_true", help="a public link anyone can use (always expires)")
    _add_limit_options(parser, update=False)
    parser.add_argument("--label", help="free text to recognise the ticket by")
    parser.add_argument("--format", default="env", metavar="FORMAT",
                        help="credentials format, any the API offers: env (default), json, aws, rclone, mc, "
                             "s3cmd, ...")
    parser.set_defaults(handler=_share)


# -- tickets -----------------------------------------------------------------------------------------------

@_handled
def _tickets_list(args: argparse.Namespace) -> int:
    tickets = list(_client(args).list_tickets(shared_with="me" if args.shared_with_me else None, path=args.path,
                                              status=args.status, owner=args.owner, all=args.all or None))
    if args.json:
        _print_json(tickets)
    elif tickets:
        sys.stdout.write(table(TICKET_COLUMNS, ticket_rows(tickets)))
    else:
        print("No tickets.", file=sys.stderr)
    return 0


def _print_ticket(args: argparse.Namespace, ticket: Mapping[str, Any]) -> int:
    """Print one ticket as ``--json`` asks (the API's object) or as readable details; exit status 0."""
    if args.json:
        _print_json(ticket)
    else:
        sys.stdout.write(ticket_details(ticket))
    return 0


@_handled
def _tickets_show(args: argparse.Namespace) -> int:
    return _print_ticket(args, _client(args).get_ticket(args.id))


@_handled
def _tickets_update(args: argparse.Namespace) -> int:
    fields = _limits(args)
    if args.no_expiry and "expires_in" in fields:
        raise UsageError("--expires and --no-expiry contradict each other")
    if args.no_expiry:
        fields["expires_at"] = None
    if args.label is not None:
        fields["label"] = args.label
    if args.no_label:
        fields["label"] = None
    if not fields:
        raise UsageError("nothing to change: give at least one option (see --help)")
    return _print_ticket(args, _client(args).update_ticket(args.id, **fields))


@_handled
def _tickets_revoke(args: argparse.Namespace) -> int:
    _client(args).revoke_ticket(args.id)
    if args.json:
        _print_json({"id": args.id, "revoked": True})
    else:
        print(f"Ticket {args.id} revoked: its keys and links no longer work.", file=sys.stderr)
    return 0


def add_tickets(subparsers: Any) -> None:
    parser = subparsers.add_parser("tickets", help="list, show, update and revoke tickets",
                                   description="Your tickets (or those shared with you).")
    actions = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
    options = _client_options()

    listing = actions.add_parser("list", parents=[options], help="list tickets as a table")
    listing.add_argument("--shared-with-me", action="store_true", help="tickets others shared with you")
    listing.add_argument("--path", help="only tickets on this path or below it")
    listing.add_argument("--status", help="only tickets in this status (active, expired, exhausted, ...)")
    listing.add_argument("--owner", metavar="USER", help="admins: the tickets of this owner")
    listing.add_argument("--all", action="store_true", help="admins: the tickets of every owner")
    listing.set_defaults(handler=_tickets_list)

    show = actions.add_parser("show", parents=[options], help="show one ticket")
    show.add_argument("id", type=int, metavar="ID")
    show.set_defaults(handler=_tickets_show)

    update = actions.add_parser("update", parents=[options], help="change limits, expiry, allow-lists or label")
    update.add_argument("id", type=int, metavar="ID")
    _add_limit_options(update, update=True)
    expiry = update.add_mutually_exclusive_group()
    expiry.add_argument("--no-expiry", action="store_true", help="never expire (not for public links)")
    labels = update.add_mutually_exclusive_group()
    labels.add_argument("--label", help="a new label")
    labels.add_argument("--no-label", action="store_true", help="clear the label")
    update.set_defaults(handler=_tickets_update)

    revoke = actions.add_parser("revoke", parents=[options], help="revoke a ticket (keys and links stop at once)")
    revoke.add_argument("id", type=int, metavar="ID")
    revoke.set_defaults(handler=_tickets_revoke)


# -- credentials -------------------------------------------------------------------------------------------

@_handled
def _credentials(args: argparse.Namespace) -> int:
    fmt = "json" if args.json and args.format is None else (args.format or "env")
    if args.install and fmt not in INSTALLABLE:
        raise UsageError(f"--install needs --format {', '.join(INSTALLABLE)}")
    text = _client(args).credentials(args.id, fmt)
    if not args.install:
        sys.stdout.write(text if text.endswith("\n") else text + "\n")
        return 0
    written = install_profile(fmt, text)
    profile = f"ticket-{args.id}"
    if args.json:
        _print_json({"profile": profile, "files": [{"path": str(w.path), "created": w.created} for w in written]})
        return 0
    for item in written:
        print(f"{'created' if item.created else 'updated'} {item.path}", file=sys.stderr)
    print(_INSTALLED_HINT[fmt].format(profile=profile), file=sys.stderr)
    return 0


_INSTALLED_HINT = {
    "aws": "Use it with: aws --profile {profile} s3 ls s3://{profile}/",
    "rclone": "Use it with: rclone ls {profile}:{profile}",
    "mc": "Use it with: mc ls {profile}/{profile}",
    "s3cmd": "Use it with: s3cmd ls s3://{profile}/ (your [default] credentials and endpoint were replaced)",
}


def add_credentials(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "credentials", parents=[_client_options()], help="print or install your S3 keys for a ticket",
        description="Print your S3 key pair of ticket ID as a client configuration, or merge it into that "
                    "client's own configuration file with --install (other entries are kept).")
    parser.add_argument("id", type=int, metavar="ID")
    parser.add_argument("--format", metavar="FORMAT",
                        help="env (default), json, aws, rclone, mc, s3cmd, or any other the API offers")
    parser.add_argument("--install", action="store_true",
                        help="merge into ~/.aws/{credentials,config}, rclone.conf, ~/.mc/config.json or ~/.s3cfg")
    parser.set_defaults(handler=_credentials)


#: Registration functions, in the order ``--help`` lists them.
CLIENT_SUBCOMMANDS: list[Callable[[Any], None]] = [add_login, add_share, add_tickets, add_credentials]
