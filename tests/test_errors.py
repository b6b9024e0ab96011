"""The exception hierarchy: everything public is exported, every code is stable and unique, statuses fit."""
from __future__ import annotations

import inspect

import pytest

from ticketbooth import errors


def _public_exceptions():
    return [obj for name, obj in vars(errors).items()
            if inspect.isclass(obj) and issubclass(obj, Exception) and not name.startswith("_")
            and obj.__module__ == errors.__name__]


def test_every_public_exception_is_exported():
    assert sorted(cls.__name__ for cls in _public_exceptions()) == sorted(errors.__all__)


def test_codes_are_unique_and_statuses_are_http_errors():
    codes = [cls.code for cls in _public_exceptions()]
    assert len(codes) == len(set(codes))
    for cls in _public_exceptions():
        assert issubclass(cls, errors.TicketBoothError)
        assert 400 <= cls.status <= 599 and cls.code.islower()


@pytest.mark.parametrize("cls", _public_exceptions(), ids=lambda c: c.__name__)
def test_default_message_is_the_docstring_summary(cls):
    err = cls() if cls is not errors.BackendUnavailable else cls(retry_after=3)
    assert err.message == cls.__doc__.strip().splitlines()[0] and str(err) == err.message
    assert err.details == {}


def test_message_and_details_are_carried():
    err = errors.InvalidRequest("bad field", details={"field": "x"})
    assert (str(err), err.details, err.status, err.code) == ("bad field", {"field": "x"}, 422, "invalid_request")


def test_hierarchy_lets_callers_catch_umbrellas():
    assert issubclass(errors.TicketExpired, errors.TicketUnusable)
    assert issubclass(errors.TicketUnusable, errors.PermissionDenied)
    assert issubclass(errors.TicketNotFound, errors.NotFound) and issubclass(errors.PathNotFound, errors.NotFound)
    assert issubclass(errors.InvalidPath, errors.InvalidRequest)
    assert issubclass(errors.InvalidCursor, errors.InvalidRequest)
    assert issubclass(errors.BackendUnavailable, errors.BackendError)
    assert errors.TicketExhausted().status == 403 and errors.TicketNotFound().status == 404


def test_backend_unavailable_carries_retry_after():
    assert errors.BackendUnavailable().retry_after == 5
    assert errors.BackendUnavailable("down", retry_after=9).retry_after == 9
