"""Each kind of Pandera check becomes per-row errors; whole-chunk failures fail the batch."""

import json

import pandera.polars as pa
import polars as pl
import pytest

from polaretl.errors import ConfigError, ContractError
from polaretl.extract.base import Chunk
from polaretl.validate.contract import ContractValidator


def split(model, rows):
    frame = pl.DataFrame(rows, schema={k: pl.String for k in rows[0]})
    return ContractValidator(model).split(Chunk(frame, source="t", position={}))


def errors(result):
    return [json.loads(e) for e in result.quarantined["errors"]]


class Pair(pa.DataFrameModel):
    a: int
    b: str

    class Config:
        unique = ["a", "b"]


def test_a_multi_column_uniqueness_failure_names_the_row():
    result = split(Pair, [{"a": "1", "b": "x"}, {"a": "1", "b": "x"}, {"a": "1", "b": "y"}])
    assert result.valid["b"].to_list() == ["y"]
    error = {
        "column": None,
        "check": "multiple_fields_uniqueness",
        "value": '{"a":1,"b":"x"}',
        "message": 'row {"a":1,"b":"x"} fails multiple_fields_uniqueness',
    }
    assert errors(result) == [[error], [error]]


class Even(pa.DataFrameModel):
    n: int

    @pa.check("n", element_wise=True, name="even")
    def even(cls, x) -> bool:  # noqa: N805 - pandera's signature
        return x % 2 == 0


def test_an_element_wise_custom_check_is_per_row():
    result = split(Even, [{"n": "2"}, {"n": "3"}])
    assert errors(result) == [
        [{"column": "n", "check": "even", "value": "3", "message": "column n: '3' fails even"}]
    ]


class Mixed(pa.DataFrameModel):
    n: int = pa.Field(ge=2)

    @pa.dataframe_check(name="total_negative")
    def total(cls, data) -> bool:  # noqa: N805
        return data.lazyframe.select(pl.col("n").sum() < 0).collect().item()


def test_a_whole_chunk_failure_next_to_row_failures_fails_the_batch_by_name():
    # Pandera itself cannot stack the two kinds of failure case; the check is still named
    with pytest.raises(ContractError, match=r"dataframe check total_negative \(false\)"):
        split(Mixed, [{"n": "1"}, {"n": "5"}])


class Refs(pa.DataFrameModel):
    c: int = pa.Field(metadata={"references": "customers.id"})


def test_references_need_their_keys_loaded_first():
    with pytest.raises(ContractError, match="begin_run"):
        split(Refs, [{"c": "1"}])


def test_a_malformed_reference_is_a_config_error():
    class Bad(pa.DataFrameModel):
        c: int = pa.Field(metadata={"references": "customers"})

    with pytest.raises(ConfigError, match="'TABLE.COLUMN'"):
        ContractValidator(Bad)
