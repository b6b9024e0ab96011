"""Client configurations (ticketbooth.clientconfig), each read back by the client's own parser."""
from __future__ import annotations

import configparser
import json
import subprocess

import botocore.session
import obstore.store
import pyarrow.fs
import pytest
from botocore.configloader import raw_config_parse

from ticketbooth import clientconfig
from ticketbooth.tickets import Credentials, S3Address

from .datatools import duckdb_connection

SECRET = "kM3v/Qx+7r_secret-with$odd'chars\"andspaces 1"


def creds(endpoint="https://s3.example.org:9443", prefix="", region="eu-central-1") -> Credentials:
    return Credentials(42, "alice", "TBAEAQAA", SECRET, S3Address(endpoint, region, "ticket-42", prefix))


def test_env_exports_survive_a_real_shell():
    config = clientconfig.render("env", creds(prefix="data.csv"))
    script = config.text + 'printf "%s\\n" "$AWS_ACCESS_KEY_ID" "$AWS_SECRET_ACCESS_KEY" "$AWS_ENDPOINT_URL_S3" ' \
                           '"$S3_ENDPOINT_URL" "$AWS_DEFAULT_REGION" "$AWS_REGION" "$TICKETBOOTH_BUCKET" ' \
                           '"$TICKETBOOTH_KEY_PREFIX"'
    out = subprocess.run(["sh", "-c", script], capture_output=True, text=True, check=True, env={}).stdout
    assert out.splitlines() == ["TBAEAQAA", SECRET, "https://s3.example.org:9443", "https://s3.example.org:9443",
                                "eu-central-1", "eu-central-1", "ticket-42", "data.csv"]
    assert config.filename == "ticket-42.env"


def test_env_is_what_botocore_reads(monkeypatch):
    for line in clientconfig.render_env(creds()).splitlines():
        if line.startswith("export "):
            name, _, value = line[len("export "):].partition("=")
            monkeypatch.setenv(name, subprocess.run(["sh", "-c", f"printf %s {value}"], capture_output=True,
                                                    text=True, check=True).stdout)
    client = botocore.session.Session().create_client("s3")
    assert client.meta.endpoint_url == "https://s3.example.org:9443"
    assert client.meta.region_name == "eu-central-1"
    assert client._request_signer._credentials.access_key == "TBAEAQAA"


def test_aws_files_parse_with_botocore_and_configure_a_client(tmp_path, monkeypatch):
    text = clientconfig.render_aws(creds())
    credentials_part, config_part = clientconfig.aws_parts(text)
    (tmp_path / "credentials").write_text(credentials_part)
    (tmp_path / "config").write_text(config_part)
    parsed_creds = raw_config_parse(str(tmp_path / "credentials"))
    parsed_config = raw_config_parse(str(tmp_path / "config"))
    assert parsed_creds["ticket-42"] == {"aws_access_key_id": "TBAEAQAA", "aws_secret_access_key": SECRET}
    assert parsed_config["profile ticket-42"]["endpoint_url"] == "https://s3.example.org:9443"
    assert parsed_config["profile ticket-42"]["s3"] == {"addressing_style": "path"}

    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_ENDPOINT_URL_S3", "AWS_PROFILE", "AWS_REGION",
                 "AWS_DEFAULT_REGION"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "credentials"))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "config"))
    client = botocore.session.Session(profile="ticket-42").create_client("s3")
    assert client.meta.endpoint_url == "https://s3.example.org:9443"
    assert client.meta.region_name == "eu-central-1"
    assert client.meta.config.s3["addressing_style"] == "path"
    assert client._request_signer._credentials.secret_key == SECRET


def test_rclone_section():
    parser = configparser.ConfigParser(interpolation=None)
    parser.read_string(clientconfig.render_rclone(creds()))
    section = parser["ticket-42"]
    assert dict(section) == {
        "type": "s3", "provider": "Other", "access_key_id": "TBAEAQAA", "secret_access_key": SECRET,
        "endpoint": "https://s3.example.org:9443", "region": "eu-central-1", "force_path_style": "true",
        "no_check_bucket": "true",
    }


def test_mc_config_json():
    config = clientconfig.render("mc", creds())
    document = json.loads(config.text)
    assert document["version"] == "10"
    assert document["aliases"]["ticket-42"] == {
        "url": "https://s3.example.org:9443", "accessKey": "TBAEAQAA", "secretKey": SECRET, "api": "s3v4",
        "path": "on",
    }
    assert (config.filename, config.media_type) == ("config.json", "application/json")


@pytest.mark.parametrize("endpoint,host,https", [
    ("https://s3.example.org:9443", "s3.example.org:9443", "True"),
    ("http://127.0.0.1:9000", "127.0.0.1:9000", "False"),
])
def test_s3cmd_config(endpoint, host, https):
    parser = configparser.ConfigParser(interpolation=None)
    parser.read_string(clientconfig.render_s3cmd(creds(endpoint=endpoint)))
    section = parser["default"]
    assert section["access_key"] == "TBAEAQAA" and section["secret_key"] == SECRET
    assert section["host_base"] == section["host_bucket"] == host
    assert section["use_https"] == https
    assert section["signature_v2"] == "False"
    assert section["bucket_location"] == "eu-central-1"


def test_multiline_values_are_refused_not_injected():
    with pytest.raises(ValueError):
        clientconfig.render_rclone(creds(region="x\n[evil]"))


def test_render_dispatches_every_format():
    assert set(clientconfig.FORMATS) == {"env", "aws", "rclone", "rclone-rc", "mc", "s3cmd", "duckdb", "fsspec",
                                         "pyarrow", "polars"}
    for name, entry in clientconfig.FORMATS.items():
        config = clientconfig.render(name, creds())
        assert "TBAEAQAA" in config.text
        assert config.media_type == entry.media_type and "{" not in config.filename
        if entry.media_type == "application/json":
            json.loads(config.text)
    with pytest.raises(KeyError):
        clientconfig.render("xml", creds())


def test_credentials_repr_hides_the_secret():
    assert SECRET not in repr(creds())


def test_duckdb_secret_is_accepted_by_duckdb_and_keeps_odd_secrets_intact():
    connection = duckdb_connection(allow_unredacted_secrets=True)
    connection.execute(clientconfig.render_duckdb(creds(endpoint="http://127.0.0.1:9000")))
    rows = connection.execute(
        "SELECT name, type, scope, secret_string FROM duckdb_secrets(redact := false)").fetchall()
    (name, kind, scope, text), = rows
    assert (name, kind, scope) == ("ticket_42", "s3", ["s3://ticket-42/"])
    assert "key_id=TBAEAQAA" in text and f"secret={SECRET}" in text
    assert "endpoint=127.0.0.1:9000" in text and "url_style=path" in text and "use_ssl=false" in text
    assert "region=eu-central-1" in text


def test_duckdb_quotes_cannot_break_out_of_the_literal():
    text = clientconfig.render_duckdb(creds(region="x'); DROP TABLE t; --"))
    assert "REGION 'x''); DROP TABLE t; --'," in text
    with pytest.raises(ValueError):
        clientconfig.render_duckdb(creds(region="x\0"))


@pytest.mark.parametrize("endpoint,scheme,host", [
    ("https://s3.example.org:9443", "https", "s3.example.org:9443"),
    ("http://127.0.0.1:9000", "http", "127.0.0.1:9000"),
])
def test_pyarrow_arguments_build_a_filesystem(endpoint, scheme, host):
    arguments = json.loads(clientconfig.render_pyarrow(creds(endpoint=endpoint)))
    assert arguments == {"access_key": "TBAEAQAA", "secret_key": SECRET, "endpoint_override": host,
                         "scheme": scheme, "region": "eu-central-1", "force_virtual_addressing": False}
    assert pyarrow.fs.S3FileSystem(**arguments).region == "eu-central-1"


def test_fsspec_options_configure_an_s3fs_client():
    options = json.loads(clientconfig.render_fsspec(creds()))
    assert options == {"key": "TBAEAQAA", "secret": SECRET,
                       "client_kwargs": {"endpoint_url": "https://s3.example.org:9443", "region_name": "eu-central-1"},
                       "config_kwargs": {"s3": {"addressing_style": "path"}}}


@pytest.mark.parametrize("endpoint,allow_http", [("https://s3.example.org:9443", None),
                                                 ("http://127.0.0.1:9000", "true")])
def test_polars_options_are_strings_and_allow_http_only_for_http(endpoint, allow_http):
    options = json.loads(clientconfig.render_polars(creds(endpoint=endpoint)))
    assert all(isinstance(value, str) for value in options.values())
    assert options.get("aws_allow_http") == allow_http
    assert options["aws_endpoint_url"] == endpoint and options["aws_virtual_hosted_style_request"] == "false"
    obstore.store.S3Store("ticket-42", config=options)  # obstore refuses a key it does not know


def test_rclone_rc_body_is_the_rclone_conf_remote():
    body = json.loads(clientconfig.render_rclone_rc(creds()))
    parser = configparser.ConfigParser(interpolation=None)
    parser.read_string(clientconfig.render_rclone(creds()))
    assert body["name"] == "ticket-42" and body["type"] == parser["ticket-42"]["type"] == "s3"
    assert body["parameters"] == {key: value for key, value in parser["ticket-42"].items() if key != "type"}
    assert body["opt"] == {"nonInteractive": True}
