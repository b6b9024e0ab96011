"""How TicketBooth reads GenQuery results: bounded where a page is wanted, to the end where everything is.

python-irodsclient's ``Query.all()`` runs one GenQuery of at most 500 rows and stops (it silently cut allow-lists
once); ``get_results()`` continues batch by batch to the last row, even after ``limit(n)`` (which only sets the
rows per batch). So: :func:`rows` for "all of them", :func:`first_rows` for "at most ``n``" (the server-side
cursor is closed as soon as ``n`` rows are in), and :func:`batches` to walk an ordered query one server batch at
a time (closing the cursor when the caller stops early).

:func:`compares_bytewise` asks the catalog whether its database compares names as S3 orders keys (by UTF-8
bytes: PostgreSQL with the ``C``/``C.UTF-8`` collation, which iRODS's setup uses, or a binary collation); only
then can a listing ask GenQuery for "names after the marker, in order" and read just one page.
"""
from __future__ import annotations

import itertools
from collections.abc import Iterator
from typing import Any

__all__ = ["batches", "compares_bytewise", "first_rows", "rows"]


def rows(query: Any) -> list[dict[Any, Any]]:
    """Every row of ``query``, continued batch by batch to the end."""
    return list(query.get_results())


def first_rows(query: Any, n: int) -> list[dict[Any, Any]]:
    """At most ``n`` rows of ``query``: one round trip when there are no more (a batch of ``n + 1`` rows, as
    the server leaves a cursor open whenever it returned as many rows as asked for), plus the cursor's close
    when there are."""
    results = query.limit(n + 1).get_results()
    try:
        return list(itertools.islice(results, n))
    finally:
        results.close()  # GeneratorExit closes an open server-side cursor (python-irodsclient's get_batches)


def batches(query: Any, size: int) -> Iterator[list[dict[Any, Any]]]:
    """The rows of ``query`` one server batch (at most ``size`` rows) at a time, fetched as the caller asks for
    the next; closing the iterator early closes the server-side cursor."""
    source = query.limit(size).get_batches()
    try:
        for result_set in source:
            yield list(result_set)
    finally:
        source.close()


def compares_bytewise(session: Any, zone: str) -> bool:
    """Whether the catalog's ``>`` and ``ORDER BY`` on names follow UTF-8 byte order (one query).

    Asked on the zone's own ``/<zone>/home``: byte order puts it after ``/<zone>/ho-z`` (``m`` > ``-``) and after
    ``/<zone>/hoMZ`` (``m`` > ``M``); a linguistic collation (``en_US.UTF-8``) ignores the hyphen and folds case
    first, and puts it before both.
    """
    from irods.models import Collection

    home = f"/{zone}/home"
    query = session.query(Collection.name).filter(Collection.name == home, Collection.name > f"/{zone}/ho-z",
                                                  Collection.name > f"/{zone}/hoMZ")
    return any(row[Collection.name] == home for row in first_rows(query, 1))
