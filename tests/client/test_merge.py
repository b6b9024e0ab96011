"""Merging a ticket's profile into existing client files: nothing of the user's is lost, ours is exact."""
from __future__ import annotations

import configparser
import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ticketbooth.client.merge import ConfigFileInvalid, merge_mc_config, replace_section, update_keys

OURS = "# ~/.aws/credentials\n[ticket-7]\naws_access_key_id = TBKEY\naws_secret_access_key = s3cr3t\n"

names = st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789-_ ", min_size=1, max_size=12).map(str.strip).filter(
    bool)
keys = st.text(alphabet="abcdefghijklmnopqrstuvwxyz_", min_size=1, max_size=10)
values = st.text(alphabet="abcdefghijklmnopqrstuvwxyzABC0123456789/+=:._-", max_size=20)
sections = st.dictionaries(names, st.dictionaries(keys, values, max_size=4), max_size=5)


def render_ini(data: dict[str, dict[str, str]], *, comments: bool) -> str:
    out = []
    for name, items in data.items():
        if comments:
            out.append(f"# about {name}\n")
        out.append(f"[{name}]\n")
        out += [f"{key} = {value}\n" for key, value in items.items()]
        out.append("\n")
    return "".join(out)


def parse(text: str) -> dict[str, dict[str, str]]:
    parser = configparser.ConfigParser(interpolation=None, strict=False)
    parser.optionxform = str
    parser.read_string(text)
    return {name: dict(parser[name]) for name in parser.sections()}


@given(sections, st.booleans())
def test_replace_keeps_every_other_section_and_sets_ours(existing, comments):
    text = render_ini(existing, comments=comments)
    merged = replace_section(text, OURS)
    parsed = parse(merged)
    assert parsed.pop("ticket-7") == {"aws_access_key_id": "TBKEY", "aws_secret_access_key": "s3cr3t"}
    assert parsed == {name: items for name, items in existing.items() if name != "ticket-7"}
    assert replace_section(merged, OURS) == merged  # installing twice changes nothing


@given(sections)
def test_replace_leaves_other_text_byte_for_byte(existing):
    existing.pop("ticket-7", None)
    text = render_ini(existing, comments=True)
    merged = replace_section(text, OURS)
    assert merged.startswith(text)
    assert merged[len(text):].lstrip("\n") == OURS.split("\n", 1)[1]


def test_replace_in_the_middle_keeps_the_comment_of_the_next_section():
    text = "[a]\nx = 1\n\n[ticket-7]\naws_access_key_id = OLD\nstale = yes\n\n# work account\n[work]\ny = 2\n"
    assert replace_section(text, OURS) == (
        "[a]\nx = 1\n\n[ticket-7]\naws_access_key_id = TBKEY\naws_secret_access_key = s3cr3t\n\n"
        "# work account\n[work]\ny = 2\n")


def test_replace_drops_duplicate_sections_of_our_name():
    text = "[ticket-7]\nold = 1\n[b]\nz = 3\n[ticket-7]\nold = 2\n"
    merged = replace_section(text, OURS)
    assert merged.count("[ticket-7]") == 1 and "old" not in merged and "[b]\nz = 3\n" in merged


def test_replace_keeps_aws_config_sub_sections():
    ours = "[profile ticket-7]\nregion = us-east-1\ns3 =\n    addressing_style = path\n"
    text = "[default]\nregion = eu-west-1\n"
    merged = replace_section(text, ours)
    assert merged == "[default]\nregion = eu-west-1\n\n" + ours


def test_replace_into_a_file_without_final_newline():
    assert replace_section("[a]\nx = 1", OURS) == "[a]\nx = 1\n\n" + OURS.split("\n", 1)[1]


def test_profile_without_section_is_refused():
    with pytest.raises(ValueError):
        replace_section("", "no section here\n")


S3CFG = "[default]\naccess_key = NEW\nsecret_key = NEWSECRET\nhost_base = 127.0.0.1:9000\n"


def test_update_keys_keeps_the_users_other_settings():
    text = ("[default]\naccess_key = OLD\ngpg_command = /usr/bin/gpg\nsecret_key = OLDSECRET\n"
            "access_key = DUP\n\n[other]\naccess_key = KEEP\n")
    merged = update_keys(text, S3CFG)
    assert parse(merged) == {
        "default": {"access_key": "NEW", "gpg_command": "/usr/bin/gpg", "secret_key": "NEWSECRET",
                    "host_base": "127.0.0.1:9000"},
        "other": {"access_key": "KEEP"},
    }
    assert update_keys(merged, S3CFG) == merged


@given(sections)
def test_update_keys_sets_ours_and_keeps_the_rest(existing):
    merged = update_keys(render_ini(existing, comments=True), S3CFG)
    parsed = parse(merged)
    default = parsed.pop("default")
    assert default == {**existing.get("default", {}), "access_key": "NEW", "secret_key": "NEWSECRET",
                       "host_base": "127.0.0.1:9000"}
    assert parsed == {name: items for name, items in existing.items() if name != "default"}


MC = json.dumps({"version": "10", "aliases": {"ticket-7": {"url": "http://gw", "accessKey": "K", "secretKey": "S",
                                                           "api": "s3v4", "path": "on"}}})


@given(st.dictionaries(names, st.dictionaries(keys, values, max_size=3), max_size=4))
def test_mc_keeps_other_aliases(aliases):
    existing = json.dumps({"version": "10", "aliases": aliases, "extra": [1, 2]})
    merged = json.loads(merge_mc_config(existing, MC))
    assert merged["extra"] == [1, 2] and merged["version"] == "10"
    assert merged["aliases"] == {**aliases, **json.loads(MC)["aliases"]}


def test_mc_into_nothing():
    assert json.loads(merge_mc_config(None, MC)) == json.loads(MC)
    assert json.loads(merge_mc_config("  \n", MC)) == json.loads(MC)


@pytest.mark.parametrize("existing", ["{not json", "[]", '{"aliases": []}'])
def test_mc_refuses_a_file_it_cannot_read(existing):
    with pytest.raises(ConfigFileInvalid) as info:
        merge_mc_config(existing, MC)
    assert info.value.code == "config_file_invalid"
