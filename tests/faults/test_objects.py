"""Objects in S3 (a real S3-compatible server) end to end into PostgreSQL, mirroring the
local-file scenarios of `test_files.py`: a grown object reads only its new records, a
replaced one updates without duplicates, a missing one follows `missing_ok`, refused
credentials fail the run with the secret masked. Each ends with invariants A-D."""

from __future__ import annotations

import pandera.polars as pa
import pytest

import polaretl as pe
from polaretl.errors import RunFailedError
from tests.faults import invariants
from tests.helpers import query
from tests.s3server import Bucket

pytestmark = pytest.mark.postgres


class Rec(pa.DataFrameModel):
    id: int = pa.Field(unique=True)
    v: str = pa.Field(nullable=True)


def pipeline(pattern: str, *, missing_ok: bool = False) -> pe.Pipeline:
    return pe.Pipeline(
        "objects",
        extractor=pe.CsvExtractor(pattern, missing_ok=missing_ok),
        contract=Rec,
        loader=pe.PostgresLoader("t", key="id", mode="upsert"),
        chunk_size=2,
    )


def test_grown_object_loads_only_the_new_records(s3: Bucket, database_url: str) -> None:
    s3.put("in/f.csv", b"id,v\n1,a\n2,b\nx,bad\n3,c\n")
    first = pipeline(s3.url("in/*.csv")).run(database_url=database_url)
    assert (first.processed, first.loaded, first.rejected) == (4, 3, 1)
    s3.put("in/f.csv", b"id,v\n1,a\n2,b\nx,bad\n3,c\n4,d\ny,bad too\n5,e\n")
    second = pipeline(s3.url("in/*.csv")).run(database_url=database_url)
    assert (second.processed, second.loaded, second.rejected) == (3, 2, 1)
    assert query(database_url, "SELECT id, _polaretl_source FROM t ORDER BY id") == [
        (i, s3.url(f"in/f.csv:{line}")) for i, line in ((1, 2), (2, 3), (3, 5), (4, 6), (5, 8))
    ]
    assert pipeline(s3.url("in/*.csv")).run(database_url=database_url).processed == 0
    invariants.check(
        database_url, pipeline="objects", table="t", key="id", source=invariants.Source(7, 2)
    )


def test_replaced_object_updates_without_duplicates(s3: Bucket, database_url: str) -> None:
    s3.put("f.csv", b"id,v\n1,a\n2,b\n3,c\n")
    first = pipeline(s3.url("*.csv")).run(database_url=database_url)
    s3.put("f.csv", b"id,v\n1,a\n2,B\n3,c\n4,d\n")
    second = pipeline(s3.url("*.csv")).run(database_url=database_url)
    assert second.processed == 4
    assert query(database_url, "SELECT id, v, _polaretl_run_id FROM t ORDER BY id") == [
        (1, "a", first.run_id),
        (2, "B", second.run_id),
        (3, "c", first.run_id),
        (4, "d", second.run_id),
    ]
    invariants.check(
        database_url,
        pipeline="objects",
        table="t",
        key="id",
        source=invariants.Source(4, 0),
        checkpoints_cover_all=False,
    )


def test_missing_objects_fail_the_run_unless_missing_ok(s3: Bucket, database_url: str) -> None:
    with pytest.raises(RunFailedError, match="No file matches s3://"):
        pipeline(s3.url("none/*.csv")).run(database_url=database_url)
    empty = pipeline(s3.url("none/*.csv"), missing_ok=True).run(database_url=database_url)
    assert (empty.status, empty.processed) == ("succeeded", 0)


def test_refused_credentials_fail_the_run_and_no_record_holds_the_secret(
    s3: Bucket, database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    s3.put("f.csv", b"id,v\n1,a\n")
    secret = "Wr0ng-but-Secret-Value"
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", secret)
    with pytest.raises(RunFailedError, match="was refused") as info:
        pipeline(s3.url("*.csv")).run(database_url=database_url)
    assert secret not in str(info.value)
    dump = query(database_url, "SELECT row_to_json(r)::text FROM polaretl.runs r")
    assert dump and all(secret not in text for (text,) in dump)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", s3.server.secret)
    again = pipeline(s3.url("*.csv")).run(database_url=database_url)
    assert (again.status, again.loaded) == ("succeeded", 1)
    invariants.check(
        database_url, pipeline="objects", table="t", key="id", source=invariants.Source(1, 0)
    )
