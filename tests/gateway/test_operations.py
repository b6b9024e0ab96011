"""The one table of S3 operations: every row is served, documented, reachable and needs a real ticket action."""
from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from ticketbooth import policy
from ticketbooth.gateway.app import GatewayApp
from ticketbooth.s3.access import ACTIONS
from ticketbooth.s3.operations import BY_NAME, OPERATIONS, Level, Operation, select
from ticketbooth.s3.routing import route

DOCS = Path(__file__).resolve().parents[2] / "docs" / "gateway.md"
IDS = [op.name for op in OPERATIONS]


def _documented_rows() -> dict[str, list[str]]:
    """The operation table of docs/gateway.md: first cell (the name) -> all cells."""
    text = DOCS.read_text(encoding="utf-8")
    section = text.split("## Operations", 1)[1].split("\n## ", 1)[0]
    rows = {}
    for line in section.splitlines():
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        if line.startswith("|") and cells[0] != "operation" and re.fullmatch(r"[A-Za-z0-9]+", cells[0]):
            rows[cells[0]] = cells
    return rows


def test_names_are_unique():
    assert len(BY_NAME) == len(OPERATIONS)


@pytest.mark.parametrize("op", OPERATIONS, ids=IDS)
def test_every_row_has_a_handler(op):
    handler = getattr(GatewayApp, op.handler, None)
    assert callable(handler), f"GatewayApp has no {op.handler} for {op.name}"


def test_a_row_without_a_handler_fails_when_the_app_is_built(gw, monkeypatch):
    ghost = Operation("GhostOperation", "GET", Level.OBJECT, ("ghost",), "read", "_op_GhostOperation")
    monkeypatch.setattr("ticketbooth.gateway.app.OPERATIONS", (*OPERATIONS, ghost))
    with pytest.raises(AttributeError, match="_op_GhostOperation"):
        GatewayApp(gw.settings, gw.backend, gw.resolver, gw.clock, gw.app.multipart)


@pytest.mark.parametrize("op", OPERATIONS, ids=IDS)
def test_every_row_has_a_line_in_the_docs_table(op):
    rows = _documented_rows()
    assert op.name in rows, f"docs/gateway.md's operation table has no row for {op.name}"
    cells = rows[op.name]
    assert cells[1] == op.method and cells[2] == op.level.value and cells[4] == op.action, cells


def test_the_docs_table_lists_nothing_else():
    assert sorted(_documented_rows()) == sorted(BY_NAME)


@pytest.mark.parametrize("op", OPERATIONS, ids=IDS)
def test_every_action_is_a_ticket_action(op):
    assert op.action in policy.READ_ACTIONS | policy.WRITE_ACTIONS
    assert ACTIONS[op.name] == op.action


@pytest.mark.parametrize("op", OPERATIONS, ids=IDS)
def test_no_row_is_shadowed_by_an_earlier_one(op):
    # The request that carries exactly this row's selectors must select this row, not an earlier one.
    params = {}
    for wanted in op.query_keys:
        name, _, value = wanted.partition("=")
        params[name] = value
    headers = {name: "x" for name in op.headers}
    assert select(op.method, op.level, params, headers) is op


_PATHS = {Level.SERVICE: "/", Level.BUCKET: "/ticket-1", Level.OBJECT: "/ticket-1/some/key"}


@pytest.mark.parametrize("op", OPERATIONS, ids=IDS)
def test_routing_reaches_every_row(op):
    query = "&".join(wanted if "=" in wanted else f"{wanted}=1" for wanted in op.query_keys)
    headers = {name: "/ticket-1/other" for name in op.headers}
    assert route(op.method, _PATHS[op.level], query, headers=headers).operation == op.name


def test_the_core_does_not_import_the_gateway():
    # The access decision is core: the API's authorize endpoint and ticketbooth.s3 never load the gateway.
    code = ("import sys, ticketbooth.s3, ticketbooth.api.resources.authorize.routes; "
            "print(sorted(m for m in sys.modules if m.startswith('ticketbooth.gateway')))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
