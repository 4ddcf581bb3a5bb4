"""Property: whatever the cells, every row is valid or quarantined, and every quarantined
row has a reason naming one of its columns."""

import json

import pandera.polars as pa
import polars as pl
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from polaretl.extract.base import Chunk
from polaretl.validate.contract import ContractValidator


class Row(pa.DataFrameModel):
    id: int = pa.Field(unique=True)
    parent: int = pa.Field(nullable=True, metadata={"references": "parents.id"})
    amount: float = pa.Field(ge=0, le=1000)
    status: str = pa.Field(isin=["new", "paid"])
    code: str = pa.Field(nullable=True, str_matches=r"^[A-Z]{2}$")
    note: str = pa.Field(nullable=True, str_length={"max_value": 5})


COLUMNS = list(Row.to_schema().columns)
GOOD = {
    "id": st.integers(0, 50).map(str),
    "parent": st.sampled_from(["1", "2", "3", ""]),
    "amount": st.floats(0, 1000, allow_nan=False).map(lambda x: f"{x:.2f}"),
    "status": st.sampled_from(["new", "paid"]),
    "code": st.sampled_from(["AB", "ZZ", ""]),
    "note": st.text("abc", max_size=5),
}
BAD = {
    "id": st.sampled_from(["x", "", "1.5", None]),
    "parent": st.sampled_from(["9", "x", "-1"]),
    "amount": st.sampled_from(["-1", "1e9", "NaN?", "", None]),
    "status": st.sampled_from(["lost", "NEW", "", None]),
    "code": st.sampled_from(["abc", "A1", "ABC"]),
    "note": st.text("xyz", min_size=6, max_size=8),
}


@st.composite
def frames(draw):
    n = draw(st.integers(0, 30))
    bad_cells = draw(st.sets(st.tuples(st.integers(0, max(n - 1, 0)), st.sampled_from(COLUMNS))))
    data = {
        c: [draw(BAD[c] if (i, c) in bad_cells else GOOD[c]) for i in range(n)] for c in COLUMNS
    }
    extra = draw(st.booleans())  # a column the contract does not name is tolerated
    if extra:
        data["channel"] = ["web"] * n
    return pl.DataFrame(data, schema={c: pl.String for c in data})


def validator():
    v = ContractValidator(Row)
    v.references.keys = {"parent": pl.Series([1, 2, 3])}  # what begin_run reads
    return v


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(frames())
def test_valid_plus_quarantined_is_the_input_and_every_reason_names_a_column(frame):
    split = validator().split(Chunk(frame, source="p.csv", position={}, null_values=("",)))
    assert split.valid.height + split.quarantined.height == frame.height
    for errors in split.quarantined["errors"]:
        assert any(e["column"] in COLUMNS for e in json.loads(errors))
    valid = split.valid
    assert valid["id"].is_unique().all()
    assert valid["amount"].is_between(0, 1000).all()
    assert valid["parent"].drop_nulls().is_in([1, 2, 3]).all()
    assert valid["status"].is_in(["new", "paid"]).all()
    # the raw record is the row as received, extra column included
    raws = [json.loads(r) for r in split.quarantined["raw"]]
    assert all(set(r) == set(frame.columns) for r in raws)
