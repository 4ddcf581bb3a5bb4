"""RestExtractor against a real HTTP server on 127.0.0.1 (tests/extract/restserver.py)."""

from __future__ import annotations

import json
import pickle
import socket
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from polaretl.errors import ConfigError, ExtractError, TransientExtractError
from polaretl.extract.rest import (
    ApiKeyAuth,
    BasicAuth,
    BearerAuth,
    CursorPaginator,
    LinkHeaderPaginator,
    NextUrlPaginator,
    OAuth2ClientCredentials,
    OffsetPaginator,
    PageNumberPaginator,
    RestExtractor,
    max_cursor,
    parse_json,
    records_frame,
)
from polaretl.extract.rest.auth import retry_after_seconds
from tests.extract.restserver import RestServer, customers

# Tiny backoff so retries cost milliseconds; Retry-After is still honoured.
FAST: dict[str, Any] = {"backoff": 0.001, "max_backoff": 0.01, "timeout": 5.0}

# kind -> (path, paginator, records_path, params, requests for 250 records in pages of 100)
KINDS: dict[str, tuple[str, Any, str | None, dict[str, Any], int]] = {
    "page": (
        "/pages",
        PageNumberPaginator(page_size=100, page_size_param="per_page"),
        "data",
        {},
        4,
    ),
    "page_total": (
        "/pages",
        PageNumberPaginator(
            page_size=100, page_size_param="per_page", total_pages_path="meta.total_pages"
        ),
        "data",
        {},
        3,
    ),
    "page_short": (
        "/pages",
        PageNumberPaginator(page_size=100, page_size_param="per_page", stop_on_short_page=True),
        "data",
        {},
        3,
    ),
    "offset": ("/offset", OffsetPaginator(limit=100), "results", {}, 4),
    "offset_total": ("/offset", OffsetPaginator(limit=100, total_path="total"), "results", {}, 3),
    "cursor": ("/cursor", CursorPaginator("meta.next_cursor"), "items", {"limit": 100}, 3),
    "next_url": ("/next", NextUrlPaginator("links.next"), "data", {"limit": 100}, 3),
    "link_header": ("/link", LinkHeaderPaginator(), None, {"per_page": 100}, 3),
}


@pytest.fixture
def server() -> Iterator[RestServer]:
    with RestServer(customers(250)) as srv:
        yield srv


def extractor(server: RestServer, kind: str = "cursor", **kw: Any) -> RestExtractor:
    path, paginator, records_path, params, _ = KINDS[kind]
    options = {**FAST, **kw}
    return RestExtractor(
        server.url(path), records_path=records_path, paginator=paginator, params=params, **options
    )


def ids(chunks: list[Any]) -> list[int]:
    return [int(v) for c in chunks for v in c.frame.get_column("customer_id").to_list()]


# --- pagination -----------------------------------------------------------------------------


@pytest.mark.parametrize("kind", list(KINDS))
def test_every_pagination_kind_reads_every_record_once(server: RestServer, kind: str) -> None:
    chunks = list(extractor(server, kind).read("all", None, 100))
    assert ids(chunks) == list(range(1, 251))
    assert [c.frame.height for c in chunks] == [100, 100, 50]
    assert len(server.requests(KINDS[kind][0])) == KINDS[kind][4]
    assert all(dtype == pl.String for c in chunks for dtype in c.frame.dtypes)
    assert chunks[-1].position["next"] is None
    for chunk in chunks:
        json.dumps(chunk.position)  # JSON-serialisable
        assert chunk.sources is not None and len(chunk.sources) == chunk.frame.height
    first = chunks[0].sources.to_list()  # type: ignore[union-attr]
    assert first[0].startswith(server.url(KINDS[kind][0])) and first[0].endswith("#0")
    assert first[99].endswith("#99")


@pytest.mark.parametrize("kind", list(KINDS))
def test_resume_from_a_midway_position_reads_exactly_the_rest(
    server: RestServer, kind: str
) -> None:
    first = list(extractor(server, kind).read("all", None, 100))
    state = json.loads(json.dumps(first[0].position))
    server.log.clear()
    rest = list(extractor(server, kind).read("all", state, 100))
    assert ids(rest) == list(range(101, 251))
    assert len(server.requests(KINDS[kind][0])) == KINDS[kind][4] - 1
    assert rest[-1].position == first[-1].position


def test_pages_accumulate_up_to_chunk_size_and_never_split(server: RestServer) -> None:
    chunks = list(extractor(server, "cursor").read("all", None, 200))
    assert [c.frame.height for c in chunks] == [200, 50]
    assert chunks[0].position["next"] == {"cursor": "c200"}
    assert [c.frame.height for c in extractor(server, "cursor").read("all", None, 149)] == [
        100,
        100,
        50,
    ]  # a chunk ends before the page that would pass chunk_size
    assert [c.frame.height for c in extractor(server, "cursor").read("all", None, 150)] == [
        100,
        150,
    ]
    assert [c.frame.height for c in extractor(server, "cursor").read("all", None, 10)] == [
        100,
        100,
        50,
    ]  # a page larger than chunk_size is one chunk


def test_empty_end_page_still_finishes_the_position(server: RestServer) -> None:
    server.records = customers(200)
    chunks = list(extractor(server, "page").read("all", None, 100))
    assert [c.frame.height for c in chunks] == [100, 100]
    assert chunks[-1].position["next"] is None  # the empty page 3 was fetched before yielding
    assert len(server.requests("/pages")) == 3


def test_nothing_to_read_yields_one_empty_finished_chunk(server: RestServer) -> None:
    server.records = []
    [chunk] = list(extractor(server, "cursor").read("all", None, 100))
    assert chunk.frame.height == 0 and chunk.position["next"] is None
    assert len(server.requests("/cursor")) == 1
    # a finished position given back, with nothing new: no chunk at all
    assert list(extractor(server, "cursor").read("all", chunk.position, 100)) == []


def test_max_pages_stops_with_a_resumable_position(server: RestServer) -> None:
    chunks = list(extractor(server, "cursor", max_pages=2).read("all", None, 100))
    assert ids(chunks) == list(range(1, 201))
    assert chunks[-1].position["next"] == {"cursor": "c200"}
    rest = list(extractor(server, "cursor").read("all", chunks[-1].position, 100))
    assert ids(rest) == list(range(201, 251))


def test_a_position_of_another_source_is_refused(server: RestServer) -> None:
    state = list(extractor(server, "cursor").read("all", None, 100))[0].position
    with pytest.raises(ConfigError, match="full-refresh"):
        list(extractor(server, "offset").read("all", state, 100))


# --- incremental ----------------------------------------------------------------------------


def test_incremental_run_sends_the_largest_cursor_value_seen(server: RestServer) -> None:
    ex = extractor(server, "cursor", cursor_field="updated_at", cursor_param="updated_since")
    first = list(ex.read("all", None, 100))
    assert ids(first) == list(range(1, 251))
    top = server.records[-1]["updated_at"]
    assert first[-1].position["cursor_max"] == top
    assert "updated_since" not in server.requests("/cursor")[0].query

    server.records[9]["updated_at"] = "2025-02-01T00:00:00Z"  # record 10 changed
    server.records.extend(customers(5, start=251))
    server.log.clear()
    second = list(ex.read("all", json.loads(json.dumps(first[-1].position)), 100))
    assert [r.query.get("updated_since") for r in server.requests("/cursor")] == [top]
    assert sorted(ids(second)) == [10, 250, 251, 252, 253, 254, 255]
    assert second[-1].position["cursor_max"] == "2025-02-01T00:00:00Z"
    assert second[-1].position["next"] is None


def test_incremental_resume_midway_keeps_the_runs_since(server: RestServer) -> None:
    ex = extractor(
        server,
        "offset",
        cursor_field="updated_at",
        cursor_param="updated_since",
        cursor_start="2025-01-01T01:00:00Z",
    )  # records 60..250
    chunks = list(ex.read("all", None, 100))
    assert ids(chunks) == list(range(60, 251))
    server.log.clear()
    rest = list(ex.read("all", chunks[0].position, 100))
    assert ids(rest) == list(range(160, 251))
    assert {r.query["updated_since"] for r in server.requests("/offset")} == {
        "2025-01-01T01:00:00Z"
    }


def test_max_cursor_orders_numbers_and_datetimes_not_text() -> None:
    assert max_cursor(pl.Series(["9", "10", None])) == "10"
    assert max_cursor(pl.Series(["2024-01-02T03:04:05Z"]), "2024-01-02T03:04:05.5Z") == (
        "2024-01-02T03:04:05.5Z"
    )
    assert max_cursor(pl.Series(["2024-01-03", "oops"]), "2024-01-02") == "2024-01-03"
    assert max_cursor(pl.Series([], dtype=pl.String), "7") == "7"
    assert max_cursor(pl.Series(["b", "a"])) == "b"


# --- records to text frames ---------------------------------------------------------------


def test_values_arrive_as_text_nested_flattened_lists_as_json(server: RestServer) -> None:
    server.raw_body = (
        b'{"data": [{"id": 1, "amount": 10.50, "big": 123456789012345678901234567890, '
        b'"exp": 1e3, "ok": true, "no": false, "nul": null, "s": "\\u00e9\\"q", '
        b'"address": {"city": "Oslo", "geo": {"lat": 59.910}}, '
        b'"tags": [1, "a", {"k": null}, 2.50], "empty": {}, "mixed": {"x": "1"}}, '
        b'{"id": "abc", "address": "unknown", "mixed": 5, "extra": []}, 42, "text"]}'
    )
    ex = RestExtractor(server.url("/raw"), records_path="data", **FAST)
    [chunk] = list(ex.read("all", None, 100))
    frame = chunk.frame
    assert frame.columns == [
        "id",
        "amount",
        "big",
        "exp",
        "ok",
        "no",
        "nul",
        "s",
        "address",
        "address_city",
        "address_geo_lat",
        "tags",
        "empty",
        "mixed",
        "mixed_x",
        "extra",
    ]
    assert frame.row(0) == (
        "1",
        "10.50",
        "123456789012345678901234567890",
        "1e3",
        "true",
        "false",
        None,
        'é"q',
        None,
        "Oslo",
        "59.910",
        '[1,"a",{"k":null},2.50]',
        "{}",
        None,
        "1",
        None,
    )
    assert frame.row(1, named=True) | {} == {
        **dict.fromkeys(frame.columns),
        "id": "abc",
        "address": "unknown",
        "mixed": "5",
        "extra": "[]",
    }
    url = server.url("/raw")
    assert chunk.sources.to_list() == [f"{url}#0", f"{url}#1"]  # type: ignore[union-attr]
    assert chunk.rejects is not None
    assert chunk.rejects.get_column("source").to_list() == [f"{url}#2", f"{url}#3"]
    assert chunk.rejects.get_column("raw").to_list() == ["42", '"text"']
    assert json.loads(chunk.rejects["errors"][0])[0]["check"] == "json_object"
    assert chunk.received == 4


def test_two_fields_flattening_to_one_column_fail_loudly(server: RestServer) -> None:
    server.raw_body = b'[{"a_b": 1, "a": {"b": 2}}]'
    with pytest.raises(ExtractError, match="flatten_sep"):
        list(RestExtractor(server.url("/raw"), **FAST).read("all", None, 10))
    [chunk] = RestExtractor(server.url("/raw"), flatten_sep=".", **FAST).read("all", None, 10)
    assert chunk.frame.columns == ["a_b", "a.b"]


def test_declared_columns_are_present_when_the_api_omits_them(server: RestServer) -> None:
    server.raw_body = b'[{"id": 1, "address": {"city": "Oslo"}}, {"id": 2}]'
    ex = RestExtractor(server.url("/raw"), columns=["id", "email", "address_city"], **FAST)
    [chunk] = list(ex.read("all", None, 10))
    assert chunk.frame.to_dict(as_series=False) == {
        "id": ["1", "2"],
        "email": [None, None],
        "address_city": ["Oslo", None],
    }


def test_records_path_missing_says_what_to_set(server: RestServer) -> None:
    server.raw_body = b'{"items": []}'
    with pytest.raises(ExtractError, match="records_path"):
        list(RestExtractor(server.url("/raw"), records_path="data", **FAST).read("all", None, 9))


_scalars = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text()
)
_json = st.recursive(
    _scalars,
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.sampled_from("abc"), inner, max_size=3)
    ),
    max_leaves=8,
)


def _leaves(obj: dict[str, Any], prefix: str = "") -> dict[str, str | None]:
    out: dict[str, str | None] = {}
    for key, value in obj.items():
        if isinstance(value, dict) and value:
            out.update(_leaves(value, f"{prefix}{key}."))
        elif isinstance(value, str):
            out[prefix + key] = value
        elif value is None:
            out[prefix + key] = None
        else:
            out[prefix + key] = json.dumps(value, separators=(",", ":"), ensure_ascii=False)
    return out


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.lists(
        st.dictionaries(st.sampled_from("abcd"), _json, min_size=1, max_size=4),
        min_size=1,
        max_size=6,
    )
)
def test_flattening_loses_nothing(records: list[dict[str, Any]]) -> None:
    """Every leaf of every record is in its row, as the text it had in the body."""
    body = json.dumps(records, ensure_ascii=False).encode()
    frame = records_frame(parse_json(body), sep=".")
    assert frame.height == len(records)
    for row, record in zip(frame.iter_rows(named=True), records, strict=True):
        expected = _leaves(record)  # a null may have no column: {"a": null} vs {"a": {...}}
        assert {k: row.get(k) for k in expected} == expected
        assert all(row[k] is None for k in row if k not in expected)


# --- retries and faults ---------------------------------------------------------------------


def test_500_three_times_then_200_is_retried(server: RestServer) -> None:
    server.fault("/cursor", "status", times=3, status=500)
    chunks = list(extractor(server, "cursor", max_attempts=5).read("all", None, 100))
    assert ids(chunks) == list(range(1, 251))
    queries = [r.query for r in server.requests("/cursor")]
    assert len(queries) == 6 and queries[:4] == [{"limit": "100"}] * 4


def test_500_forever_gives_up_after_the_budget(server: RestServer) -> None:
    server.fault("/cursor", "status", times=None, status=500)
    with pytest.raises(ExtractError) as info:
        list(extractor(server, "cursor", max_attempts=4).read("all", None, 100))
    assert isinstance(info.value, TransientExtractError)
    text = str(info.value)
    assert "HTTP 500" in text and server.url("/cursor?limit=100") in text
    assert "4 attempt" in text
    assert len(server.requests("/cursor")) == 4
    assert info.value.status == 500  # type: ignore[attr-defined]


def test_retry_budget_in_seconds_stops_retrying(server: RestServer) -> None:
    server.fault("/cursor", "status", times=None, status=503)
    started = time.monotonic()
    with pytest.raises(TransientExtractError, match="HTTP 503"):
        list(
            extractor(
                server,
                "cursor",
                max_attempts=1000,
                backoff=0.05,
                max_backoff=0.05,
                max_retry_seconds=1.0,
            ).read("all", None, 100)
        )
    assert time.monotonic() - started < 6  # generous: the machine may be busy
    assert 2 <= len(server.requests("/cursor")) <= 25  # 0.05 s apart, 1 s budget


def test_429_honours_retry_after(server: RestServer) -> None:
    server.fault("/cursor", "status", status=429, headers={"Retry-After": "1"})
    started = time.monotonic()
    chunks = list(extractor(server, "cursor").read("all", None, 100))
    assert time.monotonic() - started >= 0.95
    assert ids(chunks) == list(range(1, 251))
    assert len(server.requests("/cursor")) == 4


def test_retry_after_beyond_the_budget_fails_at_once(server: RestServer) -> None:
    server.fault("/cursor", "status", status=429, headers={"Retry-After": "3600"})
    started = time.monotonic()
    with pytest.raises(TransientExtractError, match=r"HTTP 429.*Retry-After: 3600 s"):
        list(extractor(server, "cursor", max_retry_seconds=60).read("all", None, 100))
    assert time.monotonic() - started < 6  # not 3600 s
    assert len(server.requests("/cursor")) == 1


def test_retry_after_parses_seconds_and_http_dates() -> None:
    now = datetime(2025, 3, 1, 12, 0, 0, tzinfo=UTC)
    assert retry_after_seconds("120", now) == 120.0
    assert retry_after_seconds("Sat, 01 Mar 2025 12:00:30 GMT", now) == 30.0
    assert retry_after_seconds("Sat, 01 Mar 2025 11:00:00 GMT", now) == 0.0
    assert retry_after_seconds("-5", now) == 0.0
    assert retry_after_seconds("later", now) is None
    assert retry_after_seconds(None, now) is None


@pytest.mark.parametrize("kind", ["truncate", "short", "reset"])
def test_a_broken_body_once_is_retried(server: RestServer, kind: str) -> None:
    server.fault("/cursor", kind)
    chunks = list(extractor(server, "cursor").read("all", None, 100))
    assert ids(chunks) == list(range(1, 251))
    assert len(server.requests("/cursor")) == 4


@pytest.mark.parametrize(
    ("kind", "message"),
    [
        ("truncate", "not valid JSON"),
        ("short", "RemoteProtocolError"),
        ("reset", "(ReadError|RemoteProtocolError)"),
    ],
)
def test_a_broken_body_forever_fails_after_the_budget(
    server: RestServer, kind: str, message: str
) -> None:
    server.fault("/cursor", kind, times=None)
    with pytest.raises(TransientExtractError, match=message) as info:
        list(extractor(server, "cursor", max_attempts=3).read("all", None, 100))
    assert server.url("/cursor?limit=100") in str(info.value)
    assert len(server.requests("/cursor")) == 3


def test_a_one_byte_per_second_body_times_out(server: RestServer) -> None:
    server.fault("/cursor", "slow", times=None)
    started = time.monotonic()
    with pytest.raises(TransientExtractError, match="timed out") as info:
        list(extractor(server, "cursor", timeout=0.3, max_attempts=2).read("all", None, 100))
    assert time.monotonic() - started < 8  # not the 20 kB body at 1 byte/s
    assert "2 attempt" in str(info.value)
    assert len(server.requests("/cursor")) == 2


def test_total_timeout_bounds_a_slow_drip(server: RestServer) -> None:
    server.fault("/cursor", "slow", times=None)
    with pytest.raises(TransientExtractError, match="total_timeout"):
        list(
            extractor(server, "cursor", timeout=5, total_timeout=0.5, max_attempts=1).read(
                "all", None, 100
            )
        )


def test_a_refused_connection_is_retried_then_fails() -> None:
    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    ex = RestExtractor(f"http://127.0.0.1:{port}/x", max_attempts=3, **FAST)
    with pytest.raises(TransientExtractError, match=r"3 attempt\(s\).*ConnectError"):
        list(ex.read("all", None, 10))


def test_a_4xx_is_not_retried(server: RestServer) -> None:
    ex = RestExtractor(server.url("/nope?x=1"), **FAST)
    with pytest.raises(ExtractError, match=r"HTTP 404 .*Check the URL") as info:
        list(ex.read("all", None, 100))
    assert not isinstance(info.value, TransientExtractError)
    assert server.url("/nope?x=1") in str(info.value)
    assert len(server.requests("/nope")) == 1


def test_a_repeating_cursor_is_an_endless_loop(server: RestServer) -> None:
    server.fault("/cursor", "repeat_cursor", times=None)
    got = []
    with pytest.raises(ExtractError, match="endless loop"):
        for chunk in extractor(server, "cursor").read("all", None, 100):
            got.append(chunk)
    assert ids(got) == list(range(1, 101))  # the first page was yielded before the loop
    assert len(server.requests("/cursor")) == 2


def test_a_repeating_next_url_is_an_endless_loop(server: RestServer) -> None:
    server.fault("/next", "repeat_next", times=None)
    with pytest.raises(ExtractError, match="endless loop"):
        list(extractor(server, "next_url").read("all", None, 100))
    assert len(server.requests("/next")) == 2


def test_an_api_ignoring_the_page_parameter_is_caught(server: RestServer) -> None:
    ex = RestExtractor(
        server.url("/pages"), records_path="data", paginator=PageNumberPaginator(param="p"), **FAST
    )
    with pytest.raises(ExtractError, match="ignore the 'p' parameter"):
        list(ex.read("all", None, 1000))
    assert len(server.requests("/pages")) == 2


def test_rate_limit_spaces_requests(server: RestServer) -> None:
    started = time.monotonic()
    list(extractor(server, "cursor", rate_limit=10).read("all", None, 100))
    assert time.monotonic() - started >= 0.19  # 3 requests, 0.1 s apart


# --- auth and secrets -----------------------------------------------------------------------

TOKEN = "b3arer-t0ken-for-tests"


def test_bearer_token_from_the_environment(server: RestServer, monkeypatch: Any) -> None:
    monkeypatch.setenv("REST_TEST_TOKEN", TOKEN)
    server.require = ("bearer", TOKEN)
    ex = extractor(server, "cursor", auth=BearerAuth(token_env="REST_TEST_TOKEN"))
    assert ids(list(ex.read("all", None, 100))) == list(range(1, 251))
    assert TOKEN not in ex.describe()


def test_a_wrong_token_fails_at_once_without_showing_it(
    server: RestServer, monkeypatch: Any
) -> None:
    monkeypatch.setenv("REST_TEST_TOKEN", TOKEN + "-wrong")
    server.require = ("bearer", TOKEN)
    with pytest.raises(ExtractError, match=r"HTTP 401.*credentials") as info:
        list(
            extractor(server, "cursor", auth=BearerAuth(token_env="REST_TEST_TOKEN")).read(
                "all", None, 100
            )
        )
    assert TOKEN not in str(info.value)
    assert len(server.requests("/cursor")) == 1


def test_a_missing_secret_variable_is_a_config_error(server: RestServer, monkeypatch: Any) -> None:
    monkeypatch.delenv("REST_TEST_MISSING", raising=False)
    with pytest.raises(ConfigError, match="REST_TEST_MISSING"):
        list(
            extractor(server, "cursor", auth=BearerAuth(token_env="REST_TEST_MISSING")).read(
                "all", None, 100
            )
        )
    assert server.requests() == []


def test_basic_auth_and_api_key_header(server: RestServer, monkeypatch: Any) -> None:
    monkeypatch.setenv("REST_TEST_PASSWORD", "pa55-w0rd-x")
    server.require = ("basic", "ann", "pa55-w0rd-x")
    basic = BasicAuth("ann", password_env="REST_TEST_PASSWORD")
    assert len(ids(list(extractor(server, "cursor", auth=basic).read("all", None, 100)))) == 250
    server.require = ("header", "X-Api-Key", "k3y-in-a-header")
    key = ApiKeyAuth("X-Api-Key", "k3y-in-a-header")
    assert len(ids(list(extractor(server, "offset", auth=key).read("all", None, 100)))) == 250


def test_an_api_key_in_the_query_never_reaches_positions_sources_or_errors(
    server: RestServer,
) -> None:
    secret = "qu3ry-k3y-0123456789"
    server.require = ("query", "appid", secret)  # a name redact_url does not know
    ex = extractor(server, "next_url", auth=ApiKeyAuth("appid", secret, location="query"))
    chunks = list(ex.read("all", None, 100))
    assert ids(chunks) == list(range(1, 251))
    assert all(r.query["appid"] == secret for r in server.requests("/next"))
    # the server echoes appid into its next links; it is stripped, then re-added when sent
    assert chunks[0].position["next"]["url"] == server.url("/next?limit=100&after=100")
    for chunk in chunks:
        text = json.dumps(chunk.position) + chunk.source + " ".join(chunk.sources.to_list())  # type: ignore[union-attr]
        assert secret not in text
    resumed = list(ex.read("all", chunks[0].position, 100))
    assert ids(resumed) == list(range(101, 251))

    server.fault("/next", "status", times=None, status=502)
    with pytest.raises(TransientExtractError) as info:
        list(ex.read("all", chunks[0].position, 100))
    assert secret not in str(info.value) and "HTTP 502" in str(info.value)


def test_oauth2_client_credentials_caches_the_token(server: RestServer, monkeypatch: Any) -> None:
    monkeypatch.setenv("REST_TEST_CLIENT_SECRET", server.clients["client-1"])
    server.require = ("oauth",)
    auth = OAuth2ClientCredentials(
        server.url("/token"), "client-1", client_secret_env="REST_TEST_CLIENT_SECRET"
    )
    reader = extractor(server, "cursor", auth=auth).read("all", None, 100)
    first = next(reader)
    server.tokens_issued.append("someone-else")  # the API revokes our token early
    rest = list(reader)
    assert ids([first, *rest]) == list(range(1, 251))
    assert len(server.requests("/token")) == 2  # one, then one after the 401
    assert len(server.requests("/cursor")) == 4  # 3 pages + the one refused with 401

    server.log.clear()
    server.token_ttl = 0
    short = OAuth2ClientCredentials(
        server.url("/token"),
        "client-1",
        client_secret_env="REST_TEST_CLIENT_SECRET",
        client_auth="body",
        leeway=0,
    )
    list(extractor(server, "cursor", auth=short).read("all", None, 100))
    assert len(server.requests("/token")) == 3  # expired at once: one per request


def test_oauth2_bad_secret_is_not_retried_nor_shown(server: RestServer) -> None:
    server.require = ("oauth",)
    auth = OAuth2ClientCredentials(server.url("/token"), "client-1", "n0t-the-s3cret")
    with pytest.raises(ExtractError, match="invalid_client") as info:
        list(extractor(server, "cursor", auth=auth).read("all", None, 100))
    assert "n0t-the-s3cret" not in str(info.value)
    assert len(server.requests("/token")) == 1 and server.requests("/cursor") == []


def test_oauth2_token_endpoint_5xx_is_retried(server: RestServer) -> None:
    server.require = ("oauth",)
    server.fault("/token", "status", times=2, status=503)
    auth = OAuth2ClientCredentials(server.url("/token"), "client-1", server.clients["client-1"])
    assert len(ids(list(extractor(server, "cursor", auth=auth).read("all", None, 100)))) == 250
    assert len(server.requests("/token")) == 3


def test_an_extractor_pickles_without_its_environment_secrets(
    server: RestServer, monkeypatch: Any
) -> None:
    monkeypatch.setenv("REST_TEST_CLIENT_SECRET", server.clients["client-1"])
    server.require = ("oauth",)
    auth = OAuth2ClientCredentials(
        server.url("/token"), "client-1", client_secret_env="REST_TEST_CLIENT_SECRET"
    )
    ex = extractor(server, "cursor", auth=auth)
    list(ex.read("all", None, 1000))
    blob = pickle.dumps(ex)
    assert server.clients["client-1"].encode() not in blob
    assert b"access-" not in blob
    copy = pickle.loads(blob)
    assert len(ids(list(copy.read("all", None, 1000)))) == 250


def test_credentials_in_the_url_are_masked(server: RestServer) -> None:
    ex = RestExtractor(server.url("/nope?token=abc123secret").replace("//", "//u:pw9876@"), **FAST)
    assert "pw9876" not in ex.describe() and "abc123secret" not in ex.describe()
    with pytest.raises(ExtractError) as info:
        list(ex.read("all", None, 10))
    assert "pw9876" not in str(info.value) and "abc123secret" not in str(info.value)


# --- end to end -----------------------------------------------------------------------------


@pytest.mark.postgres
def test_end_to_end_into_postgres_then_an_incremental_run(
    server: RestServer, database_url: str, monkeypatch: Any
) -> None:
    import polaretl as pe
    from contracts.customers import Customer
    from tests.helpers import query

    server.records[41]["customer_id"] = "abc"  # not an integer
    server.records[99]["name"] = None  # not nullable
    monkeypatch.setenv("REST_TEST_TOKEN", TOKEN)
    server.require = ("bearer", TOKEN)
    ex = extractor(
        server,
        "cursor",
        auth=BearerAuth(token_env="REST_TEST_TOKEN"),
        cursor_field="updated_at",
        cursor_param="updated_since",
    )
    pipeline = pe.Pipeline(
        "rest_customers_test",
        extractor=ex,
        contract=Customer,
        loader=pe.PostgresLoader("customers", key="customer_id", mode="upsert"),
        chunk_size=100,
    )
    first = pipeline.run(database_url=database_url)
    assert (first.status, first.processed, first.valid, first.rejected, first.loaded) == (
        "succeeded",
        250,
        248,
        2,
        248,
    )
    q = pe.quarantine("rest_customers_test", database_url=database_url)
    sources = sorted(q["source"].to_list())
    assert sources == [server.url("/cursor?limit=100#41"), server.url("/cursor?limit=100#99")]
    raw = json.loads(q.filter(pl.col("source").str.ends_with("#41"))["raw"][0])
    assert raw["customer_id"] == "abc" and raw["address_city"] == "City 2"
    assert raw["tags"] == '["a",0]'
    assert TOKEN not in json.dumps(
        query(
            database_url,
            "SELECT * FROM polaretl.checkpoints",
        ),
        default=str,
    )

    server.records[9]["name"] = "Renamed"
    server.records[9]["updated_at"] = "2025-02-01T00:00:00Z"
    server.records.extend(customers(5, start=251))
    server.log.clear()
    second = pipeline.run(database_url=database_url)
    assert (second.status, second.processed, second.valid) == ("succeeded", 7, 7)
    assert [r.query.get("updated_since") for r in server.requests("/cursor")] == [
        "2025-01-01T04:10:00Z"
    ]  # the largest updated_at of the first run
    assert query(database_url, "SELECT count(*) FROM customers") == [(253,)]
    assert query(database_url, "SELECT name FROM customers WHERE customer_id = 10") == [
        ("Renamed",)
    ]
