"""The JSON line format and the request binding behind request_id (the e2e run checks whole processes)."""
from __future__ import annotations

import json
import logging

from ticketbooth.logs import JsonFormatter, bind_request, current_request, unbind_request


def _record(message: str, **extra: object) -> logging.LogRecord:
    record = logging.LogRecord("ticketbooth.test", logging.WARNING, __file__, 1, message, (), None)
    for name, value in extra.items():
        setattr(record, name, value)
    return record


def test_json_line_fields_and_request_binding():
    before = current_request().request_id
    token = bind_request("0123456789ABCDEF", "192.0.2.9")
    try:
        line = json.loads(JsonFormatter().format(_record("hello %s")))
        assert current_request().client_addr == "192.0.2.9"
    finally:
        unbind_request(token)
    assert line["request_id"] == "0123456789ABCDEF" and line["logger"] == "ticketbooth.test"
    assert (line["level"], line["message"]) == ("WARNING", "hello %s")
    assert line["time"].endswith("+00:00")
    assert json.loads(JsonFormatter().format(_record("after")))["request_id"] == before


def test_exceptions_and_extra_objects():
    try:
        raise ValueError("boom")
    except ValueError:
        import sys

        record = logging.LogRecord("x", logging.ERROR, __file__, 1, "failed", (), sys.exc_info())
    line = json.loads(JsonFormatter().format(record))
    assert "ValueError: boom" in line["exception"] and line["message"] == "failed"
    event = {"action": "denied"}
    assert json.loads(JsonFormatter().format(_record("e", event=event, request_id="R1")))["event"] == event
    assert json.loads(JsonFormatter().format(_record("e", request_id="R1")))["request_id"] == "R1"


def test_configure_logging_keeps_the_audit_trail_at_any_level():
    from ticketbooth import logs

    root = logging.getLogger()
    saved = (list(root.handlers), root.level, logs.log_format(),
             logging.getLogger("ticketbooth").level, logging.getLogger("ticketbooth.audit").level)
    try:
        logs.configure_logging("json", "ERROR")
        assert logs.log_format() == "json"
        assert isinstance(root.handlers[0].formatter, JsonFormatter) and len(root.handlers) == 1
        assert not logging.getLogger("ticketbooth.cli").isEnabledFor(logging.INFO)
        assert logging.getLogger("ticketbooth.audit").isEnabledFor(logging.INFO)
    finally:
        for handler in list(root.handlers):
            root.removeHandler(handler)
        for handler in saved[0]:
            root.addHandler(handler)
        root.setLevel(saved[1])
        logs.configure_logging.__globals__["_format"] = saved[2]
        logging.getLogger("ticketbooth").setLevel(saved[3])
        logging.getLogger("ticketbooth.audit").setLevel(saved[4])
