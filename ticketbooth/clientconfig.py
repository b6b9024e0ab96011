"""Ready-to-paste client configurations for a ticket's S3 key pair: pure text renderers, no I/O.

Every format addresses the gateway path-style (``endpoint/bucket/key``), because a ticket's bucket is a name
the gateway resolves, not a DNS label. :data:`FORMATS` is the one table of formats (name, media type, download
file name, renderer, summary); the API's ``format=`` choices and its documentation are read from it. The
profile/alias/remote name is ``ticket-<id>``.
"""
from __future__ import annotations

import json
import shlex
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from .tickets import Credentials

__all__ = ["FORMATS", "ClientConfig", "Format", "profile_name", "render", "render_env", "render_aws",
           "render_rclone", "render_mc", "render_s3cmd", "render_duckdb", "render_fsspec", "render_pyarrow",
           "render_polars", "render_rclone_rc", "aws_parts"]


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


def _endpoint(credentials: Credentials) -> tuple[str, str]:
    """``(scheme, host[:port][/path])`` of the endpoint, for clients that take the two apart."""
    parts = urlsplit(credentials.s3.endpoint_url)
    return parts.scheme, parts.netloc + parts.path.rstrip("/")


def _json(document: dict[str, Any]) -> str:
    return json.dumps(document, indent=2) + "\n"


def render_env(credentials: Credentials) -> str:
    """POSIX shell ``export`` lines for the AWS CLI/SDKs (``AWS_ENDPOINT_URL_S3`` needs AWS CLI >= 2.13 or
    boto3 >= 1.28) and s5cmd (``S3_ENDPOINT_URL``: without it s5cmd sends the keys to AWS), plus
    ``TICKETBOOTH_BUCKET``/``TICKETBOOTH_KEY_PREFIX`` naming where the data is."""
    s3 = credentials.s3
    pairs = [
        ("AWS_ACCESS_KEY_ID", credentials.access_key_id),
        ("AWS_SECRET_ACCESS_KEY", credentials.secret_access_key),
        ("AWS_ENDPOINT_URL_S3", s3.endpoint_url),
        ("S3_ENDPOINT_URL", s3.endpoint_url),
        ("AWS_DEFAULT_REGION", s3.region),
        ("AWS_REGION", s3.region),
        ("TICKETBOOTH_BUCKET", s3.bucket),
        ("TICKETBOOTH_KEY_PREFIX", s3.key_prefix),
    ]
    lines = [f"# S3 key pair of TicketBooth ticket {credentials.ticket_id} (holder {credentials.holder})"]
    lines += [f"export {name}={shlex.quote(value)}" for name, value in pairs]
    return "\n".join(lines) + "\n"


def render_aws(credentials: Credentials) -> str:
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
    return creds + "\n" + config


def aws_parts(text: str) -> tuple[str, str]:
    """Split :func:`render_aws` output into its credentials and config file contents."""
    head, _, tail = text.partition("\n# ~/.aws/config\n")
    return head + "\n", "# ~/.aws/config\n" + tail


def _rclone_options(credentials: Credentials) -> dict[str, str]:
    # One set of remote options for rclone.conf and for `rclone rc config/create`.
    s3 = credentials.s3
    return {
        "provider": "Other",
        "access_key_id": credentials.access_key_id,
        "secret_access_key": credentials.secret_access_key,
        "endpoint": s3.endpoint_url,
        "region": s3.region,
        "force_path_style": "true",
        # The bucket exists already; a ticket cannot create buckets.
        "no_check_bucket": "true",
    }


def render_rclone(credentials: Credentials) -> str:
    """An ``rclone.conf`` remote section (``rclone ls ticket-<id>:ticket-<id>``)."""
    lines = [f"[{profile_name(credentials)}]", "type = s3"]
    lines += [f"{key} = {_ini_value(value)}" for key, value in _rclone_options(credentials).items()]
    return "\n".join(lines) + "\n"


def render_rclone_rc(credentials: Credentials) -> str:
    """The JSON body of ``rclone rc config/create`` (``POST /config/create`` to an ``rclone rcd``): the same
    remote as :func:`render_rclone`, created without questions."""
    return _json({
        "name": profile_name(credentials),
        "type": "s3",
        "parameters": _rclone_options(credentials),
        "opt": {"nonInteractive": True},
    })


def render_mc(credentials: Credentials) -> str:
    """A MinIO client ``config.json`` (version 10) holding one alias (``mc ls ticket-<id>/ticket-<id>``)."""
    s3 = credentials.s3
    return _json({
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
    })


def render_s3cmd(credentials: Credentials) -> str:
    """An ``.s3cfg`` for s3cmd (``s3cmd -c <file> ls s3://ticket-<id>``); path-style: host_bucket = host_base."""
    scheme, host = _endpoint(credentials)
    return (
        "[default]\n"
        f"access_key = {_ini_value(credentials.access_key_id)}\n"
        f"secret_key = {_ini_value(credentials.secret_access_key)}\n"
        f"host_base = {_ini_value(host)}\n"
        f"host_bucket = {_ini_value(host)}\n"
        f"use_https = {'True' if scheme == 'https' else 'False'}\n"
        f"bucket_location = {_ini_value(credentials.s3.region)}\n"
        "signature_v2 = False\n"
    )


def _sql_string(value: str) -> str:
    # A SQL string literal: the only character with a meaning inside one is the quote, doubled to escape it.
    if "\0" in value:
        raise ValueError("configuration values must not contain NUL")
    return "'" + value.replace("'", "''") + "'"


def render_duckdb(credentials: Credentials) -> str:
    """A DuckDB ``CREATE OR REPLACE SECRET`` (httpfs) scoped to the ticket's bucket, so that
    ``SELECT * FROM 's3://ticket-<id>/data.csv'`` uses it; ``ENDPOINT`` is host:port without the scheme, which
    ``USE_SSL`` carries."""
    scheme, host = _endpoint(credentials)
    s3 = credentials.s3
    return (
        f"CREATE OR REPLACE SECRET ticket_{credentials.ticket_id} (\n"
        "    TYPE s3,\n"
        f"    KEY_ID {_sql_string(credentials.access_key_id)},\n"
        f"    SECRET {_sql_string(credentials.secret_access_key)},\n"
        f"    REGION {_sql_string(s3.region)},\n"
        f"    ENDPOINT {_sql_string(host)},\n"
        "    URL_STYLE 'path',\n"
        f"    USE_SSL {'true' if scheme == 'https' else 'false'},\n"
        # The trailing slash keeps ticket-4's secret from matching bucket ticket-42.
        f"    SCOPE {_sql_string(f's3://{s3.bucket}/')}\n"
        ");\n"
    )


def render_fsspec(credentials: Credentials) -> str:
    """``storage_options`` for s3fs (``s3fs.S3FileSystem(**options)``, pandas, dask): the keys, the endpoint and
    region as botocore client arguments, path-style addressing as botocore configuration."""
    s3 = credentials.s3
    return _json({
        "key": credentials.access_key_id,
        "secret": credentials.secret_access_key,
        "client_kwargs": {"endpoint_url": s3.endpoint_url, "region_name": s3.region},
        "config_kwargs": {"s3": {"addressing_style": "path"}},
    })


def render_pyarrow(credentials: Credentials) -> str:
    """Keyword arguments of ``pyarrow.fs.S3FileSystem(**arguments)``."""
    scheme, host = _endpoint(credentials)
    return _json({
        "access_key": credentials.access_key_id,
        "secret_key": credentials.secret_access_key,
        "endpoint_override": host,
        "scheme": scheme,
        "region": credentials.s3.region,
        "force_virtual_addressing": False,
    })


def render_polars(credentials: Credentials) -> str:
    """``storage_options`` for polars (``pl.read_csv("s3://...", storage_options=options)``) and other
    object_store clients (``obstore.store.S3Store(bucket, config=options)``): string values, as object_store's
    configuration keys take them."""
    s3 = credentials.s3
    options = {
        "aws_access_key_id": credentials.access_key_id,
        "aws_secret_access_key": credentials.secret_access_key,
        "aws_endpoint_url": s3.endpoint_url,
        "aws_region": s3.region,
        "aws_virtual_hosted_style_request": "false",
    }
    if urlsplit(s3.endpoint_url).scheme == "http":
        # object_store refuses plain-HTTP endpoints unless told otherwise.
        options["aws_allow_http"] = "true"
    return _json(options)


@dataclass(frozen=True)
class Format:
    """One client configuration format: its ``format=`` name, media type, download file name (``{id}`` is the
    ticket id), renderer, and the one-line summary the API documentation shows."""

    name: str
    media_type: str
    filename: str
    renderer: Callable[[Credentials], str]
    summary: str


_TEXT, _JSON = "text/plain", "application/json"

FORMATS: dict[str, Format] = {f.name: f for f in (
    Format("env", _TEXT, "ticket-{id}.env", render_env, "shell exports for AWS CLI/SDKs and s5cmd"),
    Format("aws", _TEXT, "ticket-{id}.aws", render_aws, "~/.aws/credentials and ~/.aws/config sections"),
    Format("rclone", _TEXT, "rclone.conf", render_rclone, "an rclone.conf remote"),
    Format("rclone-rc", _JSON, "ticket-{id}.rclone-rc.json", render_rclone_rc,
           "the JSON body of `rclone rc config/create`"),
    Format("mc", _JSON, "config.json", render_mc, "a MinIO client config.json"),
    Format("s3cmd", _TEXT, "ticket-{id}.s3cfg", render_s3cmd, "an s3cmd .s3cfg"),
    Format("duckdb", "application/sql", "ticket-{id}.sql", render_duckdb, "a DuckDB CREATE SECRET statement"),
    Format("fsspec", _JSON, "ticket-{id}.fsspec.json", render_fsspec,
           "storage_options for s3fs, pandas and dask"),
    Format("pyarrow", _JSON, "ticket-{id}.pyarrow.json", render_pyarrow,
           "keyword arguments of pyarrow.fs.S3FileSystem"),
    Format("polars", _JSON, "ticket-{id}.polars.json", render_polars,
           "storage_options for polars and object_store (obstore)"),
)}


def render(format_name: str, credentials: Credentials) -> ClientConfig:
    """Render ``credentials`` in one of :data:`FORMATS`; ``KeyError`` for an unknown format, ``ValueError`` for
    a value the format cannot carry."""
    entry = FORMATS[format_name]
    return ClientConfig(entry.renderer(credentials), entry.filename.format(id=credentials.ticket_id),
                        entry.media_type)
