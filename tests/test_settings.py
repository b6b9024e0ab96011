"""Settings: defaults < TOML file < TICKETBOOTH_* environment < overrides, validated, errors name the setting."""
from __future__ import annotations

import pytest

from ticketbooth.errors import ConfigError
from ticketbooth.settings import Settings, load_settings

SECRET = "s" * 40


def test_defaults():
    settings = load_settings(environ={})
    assert settings == Settings()
    assert (settings.backend, settings.zone, settings.server.port, settings.s3.region) == (
        "embedded", "tempZone", 8080, "us-east-1")


def test_layers_in_order(tmp_path):
    config = tmp_path / "tb.toml"
    config.write_text(
        'data_dir = "/srv/tb"\nlog_level = "DEBUG"\n'
        '[server]\nport = 8081\nhost = "0.0.0.0"\n'
        '[embedded]\nusers = ["alice"]\ngroups = { lab = ["alice", "bob"] }\n'
        '[anonymous]\nallow_write = true\n'
    )
    environ = {"TICKETBOOTH_SERVER__PORT": "8082", "TICKETBOOTH_LOG_LEVEL": "WARNING",
               "TICKETBOOTH_S3__KEY_CACHE_TTL": "2.5"}
    settings = load_settings(config, environ=environ, overrides={"server": {"port": 8083}})
    assert settings.data_dir == "/srv/tb" and settings.server.host == "0.0.0.0"
    assert settings.server.port == 8083 and settings.log_level == "WARNING" and settings.s3.key_cache_ttl == 2.5
    assert settings.embedded.users == ("alice",) and settings.embedded.groups == {"lab": ("alice", "bob")}
    assert settings.anonymous.allow_write is True
    assert load_settings(config, environ=environ).server.port == 8082


def test_config_file_from_environment(tmp_path):
    config = tmp_path / "tb.toml"
    config.write_text('[s3]\nregion = "eu-central-1"\n')
    assert load_settings(environ={"TICKETBOOTH_CONFIG": str(config)}).s3.region == "eu-central-1"


@pytest.mark.parametrize("text, expected", [("true", True), ("YES", True), ("1", True), ("off", False),
                                            ("0", False), ("no", False)])
def test_booleans_from_environment(text, expected):
    assert load_settings(environ={"TICKETBOOTH_ANONYMOUS__ALLOW_WRITE": text}).anonymous.allow_write is expected


def test_lists_and_groups_from_environment():
    settings = load_settings(environ={"TICKETBOOTH_EMBEDDED__USERS": "alice, bob,,",
                                      "TICKETBOOTH_EMBEDDED__GROUPS": "lab=alice bob;ops=carol",
                                      "TICKETBOOTH_GATEWAY__TRUSTED_PROXIES": "10.0.0.0/8"})
    assert settings.embedded.users == ("alice", "bob")
    assert settings.embedded.groups == {"lab": ("alice", "bob"), "ops": ("carol",)}
    assert settings.gateway.trusted_proxies == ("10.0.0.0/8",)


@pytest.mark.parametrize("environ, named", [
    ({"TICKETBOOTH_SERVER__PORT": "eighty"}, "server.port"),
    ({"TICKETBOOTH_ANONYMOUS__ALLOW_WRITE": "maybe"}, "anonymous.allow_write"),
    ({"TICKETBOOTH_NO_SUCH": "1"}, "no_such"),
    ({"TICKETBOOTH_SERVER__NOPE": "1"}, "server.nope"),
    ({"TICKETBOOTH_A__B__C": "1"}, "TICKETBOOTH_A__B__C"),
    ({"TICKETBOOTH_BACKEND": "s3"}, "backend"),
    ({"TICKETBOOTH_AUTH__MODE": "basic"}, "auth.mode"),
    ({"TICKETBOOTH_AUTH__MODE": "jwks"}, "auth.jwks_url"),
    ({"TICKETBOOTH_SERVER__PORT": "70000"}, "server.port"),
    ({"TICKETBOOTH_ANONYMOUS__DEFAULT_EXPIRY": "0"}, "anonymous"),
    ({"TICKETBOOTH_BACKEND": "irods"}, "irods.zone"),
])
def test_invalid_settings_name_the_setting(environ, named):
    with pytest.raises(ConfigError) as caught:
        load_settings(environ=environ)
    assert named in str(caught.value)


@pytest.mark.parametrize("name", ["TICKETBOOTH_AUTH__HS256_SECRET", "TICKETBOOTH_S3__MASTER_KEY"])
def test_short_secrets_are_refused_without_echoing_them(name):
    with pytest.raises(ConfigError) as caught:
        load_settings(environ={name: "tooshort-secret-value"})
    assert "tooshort-secret-value" not in str(caught.value)


def test_wrong_types_in_file(tmp_path):
    config = tmp_path / "tb.toml"
    config.write_text("[server]\nport = \"8080\"\n")
    with pytest.raises(ConfigError, match="server.port"):
        load_settings(config, environ={})
    config.write_text("server = 5\n")
    with pytest.raises(ConfigError, match="server"):
        load_settings(config, environ={})


def test_missing_and_broken_files(tmp_path):
    with pytest.raises(ConfigError, match="does not exist"):
        load_settings(tmp_path / "absent.toml", environ={})
    broken = tmp_path / "broken.toml"
    broken.write_text("[server\nport=")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_settings(broken, environ={})


def test_valid_secrets_and_irods_backend():
    settings = load_settings(environ={
        "TICKETBOOTH_AUTH__HS256_SECRET": SECRET, "TICKETBOOTH_BACKEND": "irods", "TICKETBOOTH_IRODS__ZONE": "z",
        "TICKETBOOTH_IRODS__HOST": "irods.example", "TICKETBOOTH_IRODS__CONNECTION_TIMEOUT": "3"})
    assert settings.auth.hs256_secret == SECRET and settings.zone == "z"
    assert settings.irods.connection_timeout == 3.0


def test_replace_returns_a_copy():
    settings = Settings()
    other = settings.replace(data_dir="/elsewhere")
    assert other.data_dir == "/elsewhere" and settings.data_dir == "./ticketbooth-data"


def test_the_test_suites_own_variables_are_not_settings():
    # .ci/run exports TICKETBOOTH_TEST_IRODS_* for the real-zone tests; servers the suite starts inherit them.
    environ = {"TICKETBOOTH_TEST_IRODS_HOST": "127.0.0.1", "TICKETBOOTH_TEST_IRODS_PORT": "1247",
               "TICKETBOOTH_SERVER__PORT": "8099"}
    assert load_settings(environ=environ).server.port == 8099
