"""ParquetExtractor: typed chunks, row-level lineage, exact resumption across row groups."""

import datetime as dt
from pathlib import Path

import polars as pl
import pytest
from polars.testing import assert_frame_equal

from polaretl.errors import ExtractError
from polaretl.extract.parquet import ParquetExtractor


def sample(n: int = 25) -> pl.DataFrame:
    return pl.DataFrame(
        {
            "id": pl.int_range(1, n + 1, eager=True),
            "amount": [i * 1.5 for i in range(n)],
            "status": ["new", "paid", None, "shipped", "paid"] * (n // 5),
            "at": [dt.datetime(2026, 1, 1) + dt.timedelta(hours=i) for i in range(n)],
            "tags": [["a", "b"] if i % 2 else [] for i in range(n)],
        }
    )


def write(tmp_path: Path, frame: pl.DataFrame, name: str = "f.parquet", **options) -> Path:
    path = tmp_path / name
    frame.write_parquet(path, **options)
    return path


def read_all(path: Path, chunk_size: int = 1000, state=None, **options):
    return list(ParquetExtractor(str(path), **options).read(str(path), state, chunk_size))


def test_types_are_kept_and_rows_labelled(tmp_path):
    frame = sample()
    path = write(tmp_path, frame)
    chunks = read_all(path, 10)
    assert_frame_equal(pl.concat([c.frame for c in chunks]), frame)
    assert [c.frame.height for c in chunks] == [10, 10, 5]
    assert chunks[0].sources[:2].to_list() == [f"{path}:row 1", f"{path}:row 2"]
    assert chunks[-1].sources[-1] == f"{path}:row 25"
    assert [c.position["done"] for c in chunks] == [False, False, True]


@pytest.mark.parametrize("chunk_size", [1, 4, 10, 11, 100])
def test_every_resume_point_is_exact_across_row_groups(tmp_path, chunk_size):
    path = write(tmp_path, sample(), row_group_size=10)  # groups of 10, 10, 5
    chunks = read_all(path, chunk_size)
    ids = [i for c in chunks for i in c.frame["id"].to_list()]
    assert ids == list(range(1, 26))
    assert all(c.frame.height <= chunk_size for c in chunks)
    for state in [c.position for c in chunks[:-1]] + [
        {**chunks[0].position, "offset": k, "done": False} for k in (0, 3, 10, 13, 24)
    ]:
        rest = read_all(path, chunk_size, state=state)
        assert [i for c in rest for i in c.frame["id"].to_list()] == list(
            range(state["offset"] + 1, 26)
        )
        assert rest[0].sources[0] == f"{path}:row {state['offset'] + 1}"
        assert rest[-1].position["offset"] == 25 and rest[-1].position["done"]


def test_position_names_the_row_group_of_the_next_row(tmp_path):
    path = write(tmp_path, sample(), row_group_size=10)
    positions = [c.position for c in read_all(path, 10)]
    assert [(p["offset"], p["row_group"]) for p in positions] == [(10, 1), (20, 2), (25, 3)]


def test_finished_file_yields_nothing_rewritten_file_is_read_again(tmp_path):
    path = write(tmp_path, sample())
    done = read_all(path)[-1].position
    assert read_all(path, state=done) == []
    write(tmp_path, sample(30))
    assert sum(c.frame.height for c in read_all(path, state=done)) == 30


def test_columns_subset_and_empty_file(tmp_path):
    path = write(tmp_path, sample())
    assert read_all(path, columns=["status", "id"])[0].frame.columns == ["status", "id"]
    empty = write(tmp_path, sample().clear(), name="e.parquet")
    (chunk,) = read_all(empty)
    assert chunk.frame.height == 0 and chunk.frame.schema == sample().schema
    assert chunk.position["done"] is True


def test_damaged_or_wrong_files_fail_with_a_clear_error(tmp_path):
    path = write(tmp_path, sample())
    truncated = tmp_path / "t.parquet"
    truncated.write_bytes(path.read_bytes()[:-100])
    with pytest.raises(ExtractError, match="complete Parquet file"):
        read_all(truncated)
    with pytest.raises(ExtractError, match="nope"):
        read_all(path, columns=["nope"])


def test_slices_are_the_sorted_files(tmp_path):
    for name in ("2.parquet", "1.parquet"):
        write(tmp_path, sample(), name=name)
    ext = ParquetExtractor(f"{tmp_path}/*.parquet")
    assert ext.slices() == [f"{tmp_path}/1.parquet", f"{tmp_path}/2.parquet"]
    assert ext.describe() == f"parquet:{tmp_path}/*.parquet"


def test_a_schema_that_repeats_a_name_rejects_every_row_with_its_file(tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    path = tmp_path / "dup.parquet"
    columns = [pa.array([1, 2, 3]), pa.array(["a", "b", "c"]), pa.array(["x", "y", "z"])]
    pq.write_table(pa.Table.from_arrays(columns, names=["id", "v", "v"]), path, row_group_size=2)
    chunks = read_all(path, 2)  # before: Polars' DuplicateError, naming no file
    assert [c.frame.height for c in chunks] == [0, 0] and chunks[-1].position["done"]
    rejects = pl.concat([c.rejects for c in chunks])
    fault = (
        f"the schema of {path} repeats column v (columns 2 and 3), so which field is v cannot "
        "be told; rename the repeated columns in the file and run again"
    )
    assert rejects.rows() == [
        (
            f"{path}:row {i}",
            f'{{"id":{i},"v (column 2)":"{v}","v (column 3)":"{w}"}}',
            f'[{{"column":null,"check":"parquet_columns","value":null,"message":"{fault}"}}]',
        )
        for i, v, w in [(1, "a", "x"), (2, "b", "y"), (3, "c", "z")]
    ]
