"""An HTTP API failing the ways real ones do, end to end into PostgreSQL.

Each scenario runs a `RestExtractor` pipeline against the real local server of
tests/extract/restserver.py (100 customers, pages of 20, two bad records planted) into a
fresh database, then checks the fault suite's invariants (tests/faults/invariants.py).
The retry and timeout rules themselves are unit-tested in tests/extract/test_rest.py;
here the question is what reaches the database and the run records.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest

import polaretl as pe
from contracts.customers import Customer
from polaretl.extract.rest import CursorPaginator, RestExtractor
from tests.extract.restserver import RestServer, customers
from tests.faults import invariants
from tests.helpers import query

pytestmark = pytest.mark.postgres

RECORDS, BAD, PAGE = 100, 2, 20
SECRET = "t0ken-1n-the-query-5b2f"
FAST: dict[str, Any] = {"backoff": 0.01, "max_backoff": 0.05, "timeout": 5.0}


@pytest.fixture
def server() -> Iterator[RestServer]:
    records = customers(RECORDS)
    records[4]["customer_id"] = "abc"  # page 1: not an integer
    records[30]["name"] = None  # page 2: not nullable
    with RestServer(records) as srv:
        srv.require = ("query", "access_token", SECRET)
        yield srv


def pipeline(server: RestServer, **options: Any) -> pe.Pipeline:
    """Customers, one page per chunk, the token in the URL (as users paste it)."""
    extractor = RestExtractor(
        server.url(f"/cursor?limit={PAGE}&access_token={SECRET}"),
        records_path="items",
        paginator=CursorPaginator("meta.next_cursor"),
        **{**FAST, **options},
    )
    return pe.Pipeline(
        "api",
        extractor=extractor,
        contract=Customer,
        loader=pe.PostgresLoader("customers", key="customer_id", mode="upsert"),
        chunk_size=PAGE,
    )


def check(url: str, records: int = RECORDS, bad: int = BAD) -> None:
    invariants.check(
        url,
        pipeline="api",
        table="customers",
        key="customer_id",
        source=invariants.Source(records=records, bad=bad),
    )


def cursors(server: RestServer) -> list[str | None]:
    """The cursor of each request, in order (None: the first page)."""
    return [r.query.get("cursor") for r in server.requests("/cursor")]


ALL_PAGES = [None, "c20", "c40", "c60", "c80"]


def test_429_with_retry_after_is_waited_out_then_everything_loads(
    server: RestServer, database_url: str
) -> None:
    server.fault("/cursor", "status", status=429, headers={"Retry-After": "2"}, after=1)
    result = pipeline(server).run(database_url=database_url)
    assert (result.status, result.loaded, result.rejected) == ("succeeded", 98, 2)
    refused, retried = server.requests("/cursor")[1:3]
    assert (
        refused.query == retried.query == {"limit": "20", "cursor": "c20", "access_token": SECRET}
    )
    gap = retried.at - refused.at  # measured by the server
    assert 1.9 <= gap < 10, f"Retry-After: 2 was not honoured: {gap:.2f} s"
    assert cursors(server) == [None, "c20", "c20", "c40", "c60", "c80"]
    check(database_url)


def test_a_5xx_burst_then_success_loads_every_record_once(
    server: RestServer, database_url: str
) -> None:
    server.fault("/cursor", "status", status=503, times=3, after=2)
    result = pipeline(server, max_attempts=5).run(database_url=database_url)
    assert (result.status, result.processed, result.loaded) == ("succeeded", 100, 98)
    assert cursors(server) == [None, "c20", "c40", "c40", "c40", "c40", "c60", "c80"]
    check(database_url)


def test_5xx_forever_fails_naming_the_url_then_a_rerun_resumes_exactly_once(
    server: RestServer, database_url: str
) -> None:
    server.fault("/cursor", "status", status=502, times=None, after=2)
    pipe = pipeline(server, max_attempts=3)
    with pytest.raises(pe.RunFailedError) as info:
        pipe.run(database_url=database_url)
    error = str(info.value)
    assert "HTTP 502" in error and "3 attempt(s)" in error
    assert server.url("/cursor?limit=20&access_token=***&cursor=c40") in error
    assert SECRET not in error
    recorded = query(database_url, "SELECT status, error, traceback FROM polaretl.runs")
    assert recorded[0][0] == "failed" and "HTTP 502" in recorded[0][1]
    assert SECRET not in str(recorded)
    # A page is held until the next one arrives (a chunk's position is the page after
    # it): page 1 is committed, page 2 was read but not committed, nothing else.
    check(database_url, records=PAGE, bad=1)

    server.faults.clear()
    server.log.clear()
    again = pipe.run(database_url=database_url)
    assert (again.status, again.processed) == ("succeeded", RECORDS - PAGE)
    assert cursors(server) == ["c20", "c40", "c60", "c80"]  # resumed after the last commit
    check(database_url)


@pytest.mark.parametrize(
    "kind",
    [
        "short",  # Content-Length announces more than is sent, then the server closes
        "truncate",  # no Content-Length, the body cut in half: invalid JSON
        "reset",  # half the body, then a TCP reset
    ],
)
def test_a_broken_body_is_fetched_again_and_loaded_once(
    server: RestServer, database_url: str, kind: str
) -> None:
    server.fault("/cursor", kind, after=2)
    result = pipeline(server).run(database_url=database_url)
    assert (result.status, result.processed, result.loaded) == ("succeeded", 100, 98)
    assert cursors(server) == [None, "c20", "c40", "c40", "c60", "c80"]
    check(database_url)


def test_a_broken_body_forever_fails_then_resumes(server: RestServer, database_url: str) -> None:
    server.fault("/cursor", "reset", times=None, after=3)
    pipe = pipeline(server, max_attempts=2)
    with pytest.raises(pe.RunFailedError, match=r"2 attempt\(s\)") as info:
        pipe.run(database_url=database_url)
    assert "access_token=***" in str(info.value) and SECRET not in str(info.value)
    check(database_url, records=2 * PAGE, bad=2)  # pages 1 and 2 (3 is held, see above)
    server.faults.clear()
    assert pipe.run(database_url=database_url).processed == RECORDS - 2 * PAGE
    check(database_url)


def test_a_body_slower_than_the_timeout_is_abandoned_and_fetched_again(
    server: RestServer, database_url: str
) -> None:
    server.fault("/cursor", "slow", after=1)  # 1 byte per second
    started = time.monotonic()
    result = pipeline(server, timeout=0.5).run(database_url=database_url)
    assert time.monotonic() - started < 15  # not the page's ~4 kB at 1 byte/s
    assert (result.status, result.loaded) == ("succeeded", 98)
    assert cursors(server) == [None, "c20", "c20", "c40", "c60", "c80"]
    check(database_url)


def test_a_repeated_cursor_fails_as_an_endless_loop_then_resumes(
    server: RestServer, database_url: str
) -> None:
    server.fault("/cursor", "repeat_cursor", times=None, after=2)
    pipe = pipeline(server)
    started = time.monotonic()
    with pytest.raises(pe.RunFailedError, match="endless loop") as info:
        pipe.run(database_url=database_url)
    assert time.monotonic() - started < 10
    assert "already used" in str(info.value) and SECRET not in str(info.value)
    # page 3 named its own cursor as the next one: no request after it
    assert cursors(server) == [None, "c20", "c40"]
    check(database_url, records=2 * PAGE, bad=2)  # pages 1 and 2 committed
    server.faults.clear()
    assert pipe.run(database_url=database_url).status == "succeeded"
    check(database_url)
