"""Ready-to-paste client configurations for a ticket's S3 key pair: pure text renderers, no I/O.

Every format addresses the gateway path-style (``endpoint/bucket/key``), because a ticket's bucket is a name
the gateway resolves, not a DNS label. Each renderer returns a :class:`ClientConfig`: the text and the file name
the client reads it from. The profile/alias/remote name is ``ticket-<id>``.
"""
from __future__ import annotations

import json
import shlex
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import urlsplit

from .tickets import Credentials

__all__ = ["FORMATS", "ClientConfig", "profile_name", "render", "render_env", "render_aws", "render_rclone",
           "render_mc", "render_s3cmd", "aws_parts"]


@dataclass(frozen=True)
class ClientConfig:
    """A rendered configuration: ``text`` to save as ``filename`` (a suggestion for downloads)."""

    text: str
    filename: str
    media_type: str = "text/plain"


def profile_name(credentials: Credentials) -> str:
    """The AWS profile, rclone remote and mc alias name used for a ticket."""
    return f"ticket-{credentials.ticket_id}"


def _ini_value(value: str) -> str:
    # INI parsers (configparser, botocore, rclone) read a value to the end of the line; refuse anything that
    # could start a new line or section instead of escaping it.
    if any(ch in value for ch in "\r\n\0"):
        raise ValueError("configuration values must be single-line")
    return value


def render_env(credentials: Credentials) -> ClientConfig:
    """POSIX shell ``export`` lines for the AWS CLI/SDKs (``AWS_ENDPOINT_URL_S3`` needs AWS CLI >= 2.13 or
    boto3 >= 1.28), plus ``TICKETBOOTH_BUCKET``/``TICKETBOOTH_KEY_PREFIX`` naming where the data is."""
    s3 = credentials.s3
    pairs = [
        ("AWS_ACCESS_KEY_ID", credentials.access_key_id),
        ("AWS_SECRET_ACCESS_KEY", credentials.secret_access_key),
        ("AWS_ENDPOINT_URL_S3", s3.endpoint_url),
        ("AWS_DEFAULT_REGION", s3.region),
        ("AWS_REGION", s3.region),
        ("TICKETBOOTH_BUCKET", s3.bucket),
        ("TICKETBOOTH_KEY_PREFIX", s3.key_prefix),
    ]
    lines = [f"# S3 key pair of TicketBooth ticket {credentials.ticket_id} (holder {credentials.holder})"]
    lines += [f"export {name}={shlex.quote(value)}" for name, value in pairs]
    return ClientConfig("\n".join(lines) + "\n", f"ticket-{credentials.ticket_id}.env")


def render_aws(credentials: Credentials) -> ClientConfig:
    """A ``~/.aws/credentials`` section and a ``~/.aws/config`` profile (with ``endpoint_url``, path-style),
    concatenated; each part is headed by a comment naming its file."""
    s3 = credentials.s3
    name = profile_name(credentials)
    creds = (
        f"# ~/.aws/credentials\n[{name}]\n"
        f"aws_access_key_id = {_ini_value(credentials.access_key_id)}\n"
        f"aws_secret_access_key = {_ini_value(credentials.secret_access_key)}\n"
    )
    config = (
        f"# ~/.aws/config\n[profile {name}]\n"
        f"region = {_ini_value(s3.region)}\n"
        f"endpoint_url = {_ini_value(s3.endpoint_url)}\n"
        "s3 =\n"
        "    addressing_style = path\n"
    )
    return ClientConfig(creds + "\n" + config, f"ticket-{credentials.ticket_id}.aws")


def aws_parts(text: str) -> tuple[str, str]:
    """Split :func:`render_aws` output into its credentials and config file contents."""
    head, _, tail = text.partition("\n# ~/.aws/config\n")
    return head + "\n", "# ~/.aws/config\n" + tail


def render_rclone(credentials: Credentials) -> ClientConfig:
    """An ``rclone.conf`` remote section (``rclone ls ticket-<id>:ticket-<id>``)."""
    s3 = credentials.s3
    text = (
        f"[{profile_name(credentials)}]\n"
        "type = s3\n"
        "provider = Other\n"
        f"access_key_id = {_ini_value(credentials.access_key_id)}\n"
        f"secret_access_key = {_ini_value(credentials.secret_access_key)}\n"
        f"endpoint = {_ini_value(s3.endpoint_url)}\n"
        f"region = {_ini_value(s3.region)}\n"
        "force_path_style = true\n"
        # The bucket exists already; a ticket cannot create buckets.
        "no_check_bucket = true\n"
    )
    return ClientConfig(text, "rclone.conf")


def render_mc(credentials: Credentials) -> ClientConfig:
    """A MinIO client ``config.json`` (version 10) holding one alias (``mc ls ticket-<id>/ticket-<id>``)."""
    s3 = credentials.s3
    document = {
        "version": "10",
        "aliases": {
            profile_name(credentials): {
                "url": s3.endpoint_url,
                "accessKey": credentials.access_key_id,
                "secretKey": credentials.secret_access_key,
                "api": "s3v4",
                "path": "on",
            }
        },
    }
    return ClientConfig(json.dumps(document, indent=2) + "\n", "config.json", "application/json")


def render_s3cmd(credentials: Credentials) -> ClientConfig:
    """An ``.s3cfg`` for s3cmd (``s3cmd -c <file> ls s3://ticket-<id>``); path-style: host_bucket = host_base."""
    s3 = credentials.s3
    parts = urlsplit(s3.endpoint_url)
    host = parts.netloc + parts.path.rstrip("/")
    text = (
        "[default]\n"
        f"access_key = {_ini_value(credentials.access_key_id)}\n"
        f"secret_key = {_ini_value(credentials.secret_access_key)}\n"
        f"host_base = {_ini_value(host)}\n"
        f"host_bucket = {_ini_value(host)}\n"
        f"use_https = {'True' if parts.scheme == 'https' else 'False'}\n"
        f"bucket_location = {_ini_value(s3.region)}\n"
        "signature_v2 = False\n"
    )
    return ClientConfig(text, f"ticket-{credentials.ticket_id}.s3cfg")


FORMATS: dict[str, Callable[[Credentials], ClientConfig]] = {
    "env": render_env,
    "aws": render_aws,
    "rclone": render_rclone,
    "mc": render_mc,
    "s3cmd": render_s3cmd,
}


def render(format_name: str, credentials: Credentials) -> ClientConfig:
    """Render ``credentials`` in one of :data:`FORMATS`; ``KeyError`` for an unknown format."""
    return FORMATS[format_name](credentials)
