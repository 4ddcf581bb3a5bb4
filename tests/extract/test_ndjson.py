"""NdjsonExtractor (and the shared file helpers): text values, rejects, exact resumption."""

import json
import os
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from polaretl.errors import ExtractError
from polaretl.extract.files import expand_glob, fingerprint, resume_offset
from polaretl.extract.ndjson import MAX_BRACKETS, NdjsonExtractor


def read_all(path: Path, chunk_size: int = 1000, state=None, **options):
    return list(NdjsonExtractor(str(path), **options).read(str(path), state, chunk_size))


def rows(chunks) -> list[dict]:
    return [r for c in chunks for r in c.frame.to_dicts()]


def rejects(chunks) -> list[dict]:
    out = []
    for c in chunks:
        if c.rejects is not None:
            out += [
                {**r, "errors": json.loads(r["errors"]), "raw": json.loads(r["raw"])}
                for r in c.rejects.to_dicts()
            ]
    return out


def write(tmp_path: Path, lines: list[str], name: str = "f.ndjson") -> Path:
    path = tmp_path / name
    path.write_text("".join(line + "\n" for line in lines))
    return path


def test_values_are_text_nested_objects_flattened_lists_json(tmp_path):
    path = write(
        tmp_path,
        [
            '{"id": 1, "qty": 7, "amount": 2.50, "ok": true, "tags": ["a", "b"],'
            ' "address": {"city": "Paris", "geo": {"lat": 48.8}}, "note": null}',
            '{"id": 2, "qty": 7.5, "amount": 1e3, "ok": false, "tags": [], "extra": "new"}',
            '{"id": 12345678901234567890, "qty": "x", "amount": -0.0, "ok": null}',
        ],
    )
    assert rows(read_all(path)) == [
        {
            "id": "1",
            "qty": "7",
            "amount": "2.50",
            "ok": "true",
            "tags": '["a","b"]',
            "address_city": "Paris",
            "address_geo_lat": "48.8",
            "note": None,
            "extra": None,
        },
        {
            "id": "2",
            "qty": "7.5",
            "amount": "1e3",
            "ok": "false",
            "tags": "[]",
            "address_city": None,
            "address_geo_lat": None,
            "note": None,
            "extra": "new",
        },
        {
            "id": "12345678901234567890",
            "qty": "x",
            "amount": "-0.0",
            "ok": None,
            "tags": None,
            "address_city": None,
            "address_geo_lat": None,
            "note": None,
            "extra": None,
        },
    ]


def test_integers_keep_their_digits_next_to_a_bad_float(tmp_path):
    """A float among integers must not turn the integers into "7.0" (they would all fail an
    int contract); only the bad value should."""
    path = write(tmp_path, ['{"qty": 7}', '{"qty": 8}', '{"qty": 7.5}'])
    assert [r["qty"] for r in rows(read_all(path))] == ["7", "8", "7.5"]


def test_malformed_lines_are_rejected_with_line_and_raw_text(tmp_path):
    path = tmp_path / "bad.ndjson"
    path.write_bytes(
        b'{"id": 1}\n'
        b'{"id": 2, oops}\n'
        b"\n"
        b"[1, 2]\n"
        b'{"id": 3}{"id": 4}\n'
        b"  \t \n"
        b'{"id": 5, "name": "caf\xc3\xa9"}\r\n'
        b'{"id": 6, "name": "\xff\xfe"}\n'
        b"null\n"
        b'{"id": 7}'  # no final newline
    )
    chunks = read_all(path)
    assert rows(chunks) == [
        {"id": "1", "name": None},
        {"id": "5", "name": "café"},
        {"id": "7", "name": None},
    ]
    assert chunks[0].sources.to_list() == [f"{path}:line 1", f"{path}:line 7", f"{path}:line 10"]
    got = [
        (r["source"], r["raw"], r["errors"][0]["check"], r["errors"][0]["line"])
        for r in rejects(chunks)
    ]
    assert got == [
        (f"{path}:line 2", '{"id": 2, oops}', "malformed_json", 2),
        (f"{path}:line 4", "[1, 2]", "not_an_object", 4),
        (f"{path}:line 5", '{"id": 3}{"id": 4}', "malformed_json", 5),
        (f"{path}:line 8", '{"id": 6, "name": "\\xff\\xfe"}', "encoding", 8),
        (f"{path}:line 9", "null", "not_an_object", 9),
    ]
    position = chunks[-1].position
    assert position["blank"] == 2 and position["offset"] == 10 and position["done"] is True
    assert chunks[0].received == 8  # 3 rows + 5 rejects; the 2 blank lines are not records


def test_shapes_that_disagree_take_the_python_path(tmp_path):
    path = write(tmp_path, ['{"a": {"b": 1}}', '{"a": "flat"}', '{"a": [1, "x", {"k": null}]}'])
    assert rows(read_all(path)) == [
        {"a_b": "1", "a": None},
        {"a_b": None, "a": "flat"},
        {"a_b": None, "a": '[1,"x",{"k":null}]'},
    ]


def test_deep_nesting_is_rejected_or_parsed_without_crashing(tmp_path):
    deep = '{"a": ' + "[" * 100_000 + "]" * 100_000 + "}"
    many = '{"a": [' + ",".join(["{}"] * (MAX_BRACKETS + 5)) + '], "b": 2}'
    path = write(tmp_path, ['{"b": 1}', deep, many, '{"b": 3}'])
    chunks = read_all(path)
    assert [r["b"] for r in rows(chunks)] == ["1", "2", "3"]  # line order is kept
    (bad,) = rejects(chunks)
    assert bad["source"] == f"{path}:line 2" and "deeply" in bad["errors"][0]["message"]


def test_colliding_flat_names_fail_with_advice(tmp_path):
    path = write(tmp_path, ['{"a_b": 1, "a": {"b": 2}}'])
    with pytest.raises(ExtractError, match="separator"):
        read_all(path)
    assert rows(read_all(path, separator=".")) == [{"a_b": "1", "a.b": "2"}]


@pytest.mark.parametrize("chunk_size", [1, 2, 3, 5, 100])
@pytest.mark.parametrize("with_byte", [True, False])
def test_every_resume_point_is_exact(tmp_path, chunk_size, with_byte):
    lines = [f'{{"n": {i}}}' if i % 4 else "" for i in range(1, 12)] + ["{bad", '{"n": 99}']
    path = write(tmp_path, lines)
    chunks = read_all(path, chunk_size)
    everything = [r["n"] for r in rows(chunks)]
    assert everything == [str(i) for i in range(1, 12) if i % 4] + ["99"]
    assert all(c.received <= chunk_size for c in chunks)
    for i, chunk in enumerate(chunks[:-1]):
        state = dict(chunk.position)
        if not with_byte:
            state.pop("byte")  # resume by skipping lines
        rest = read_all(path, chunk_size, state=state)
        assert [r["n"] for r in rows(rest)] == [
            r["n"] for c in chunks[i + 1 :] for r in c.frame.to_dicts()
        ]
        assert rest[-1].position == chunks[-1].position


def test_finished_file_yields_nothing_appended_file_is_read_again(tmp_path):
    path = write(tmp_path, ['{"n": 1}'])
    done = read_all(path)[-1].position
    assert read_all(path, state=done) == []
    with path.open("a") as f:
        f.write('{"n": 2}\n')
    assert [r["n"] for r in rows(read_all(path, state=done))] == ["1", "2"]


def test_empty_file_is_done_with_no_rows(tmp_path):
    path = write(tmp_path, [])
    (chunk,) = read_all(path)
    assert chunk.frame.height == 0 and chunk.position["done"] is True


scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**63), 2**63 - 1),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=8),
)
objects = st.dictionaries(
    st.sampled_from(["a", "b", "c"]),
    st.one_of(scalars, st.dictionaries(st.sampled_from(["x", "y"]), scalars, max_size=2)),
    max_size=3,
)


def _expected(obj: dict, prefix: str = "") -> dict:
    out = {}
    for key, value in obj.items():
        if isinstance(value, dict):
            out.update(_expected(value, prefix + key + "_"))
        elif value is not None:
            out[prefix + key] = value
    return out


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(objs=st.lists(objects, min_size=1, max_size=6))
def test_property_values_round_trip_as_text(tmp_path, objs):
    path = write(tmp_path, [json.dumps(o) for o in objs], name="p.ndjson")
    chunks = read_all(path, chunk_size=4)
    got = rows(chunks)
    # a NUL character cannot be stored as PostgreSQL text: that line is rejected
    nul = [i for i, o in enumerate(objs) if "\x00" in json.dumps(o, ensure_ascii=False)]
    assert [r["errors"][0]["line"] for r in rejects(chunks)] == [i + 1 for i in nul]
    objs = [o for i, o in enumerate(objs) if i not in nul]
    assert len(got) == len(objs)
    for row, obj in zip(got, objs, strict=True):
        present = {k: v for k, v in row.items() if v is not None}
        expected = _expected(obj)
        assert present.keys() == expected.keys()
        for key, value in expected.items():
            if isinstance(value, bool):
                assert present[key] == json.dumps(value)
            elif isinstance(value, int):
                assert present[key] == str(value)  # integers keep their digits exactly
            elif isinstance(value, float):
                assert present[key] == json.dumps(value)  # the number as written
            else:
                assert present[key] == value


# --- the shared file helpers (polaretl/extract/files.py) ---------------------------


def test_expand_glob_sorted_files_only_union_of_globs(tmp_path):
    for name in ("b.ndjson", "a.ndjson", "c.txt"):
        (tmp_path / name).write_text("x")
    (tmp_path / "dir.ndjson").mkdir()
    assert expand_glob(f"{tmp_path}/*.ndjson") == [f"{tmp_path}/a.ndjson", f"{tmp_path}/b.ndjson"]
    assert expand_glob([f"{tmp_path}/*.txt", f"{tmp_path}/a.*"]) == [
        f"{tmp_path}/a.ndjson",
        f"{tmp_path}/c.txt",
    ]


def test_fingerprint_changes_on_append_edit_at_either_end_and_touch(tmp_path):
    path = tmp_path / "f.bin"
    path.write_bytes(b"x" * 300_000)
    first = fingerprint(str(path))
    assert fingerprint(str(path)) == first
    stat = path.stat()
    with path.open("r+b") as f:  # same size, same mtime, first byte changed
        f.write(b"y")
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    assert fingerprint(str(path)) != first
    second = fingerprint(str(path))
    with path.open("r+b") as f:  # last byte changed
        f.seek(-1, 2)
        f.write(b"z")
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    assert fingerprint(str(path)) not in (first, second)
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1))
    assert fingerprint(str(path)).split(":")[1] == str(stat.st_mtime_ns + 1)
    with pytest.raises(ExtractError, match="Cannot read"):
        fingerprint(str(tmp_path / "missing"))


def test_resume_offset_rules():
    assert resume_offset(None, "fp") == 0
    assert resume_offset({"fp": "fp", "offset": 4, "done": False}, "fp") == 4
    assert resume_offset({"fp": "fp", "offset": 4, "done": True}, "fp") is None
    assert resume_offset({"fp": "old", "offset": 4, "done": True}, "fp") == 0


def test_numbers_a_double_cannot_hold_keep_their_digits(tmp_path):
    path = write(
        tmp_path,
        [
            '{"id": 9007199254740993, "x": 1.5}',
            '{"id": 12345678901234567890123, "x": 1e-400}',
            '{"id": 1, "x": 2.5, "when": "2026-01-02T03:04:05Z"}',
        ],
    )
    assert rows(read_all(path)) == [
        {"id": "9007199254740993", "x": "1.5", "when": None},
        {"id": "12345678901234567890123", "x": "1e-400", "when": None},  # as written
        {"id": "1", "x": "2.5", "when": "2026-01-02T03:04:05Z"},  # not re-formatted
    ]


def test_date_like_text_is_kept_as_written(tmp_path):
    path = write(
        tmp_path,
        [
            '{"at": "2026-01-02T03:04:05", "d": "2026-01-02", "n": {"t": "2026-01-02 03:04:05"}}',
            '{"at": "2026-01-02T03:04:05.123+02:00", "l": ["2026-01-02T00:00:00"]}',
        ],
    )
    assert rows(read_all(path)) == [
        {"at": "2026-01-02T03:04:05", "d": "2026-01-02", "n_t": "2026-01-02 03:04:05", "l": None},
        {
            "at": "2026-01-02T03:04:05.123+02:00",
            "d": None,
            "n_t": None,
            "l": '["2026-01-02T00:00:00"]',
        },
    ]


number_texts = st.builds(
    lambda sign, whole, fraction, exponent: sign + whole + fraction + exponent,
    st.sampled_from(["", "-"]),
    st.one_of(st.just("0"), st.integers(1, 10**25).map(str)),
    st.one_of(st.just(""), st.text("0123456789", min_size=1, max_size=18).map(".{}".format)),
    st.one_of(st.just(""), st.integers(-400, 400).map("e{}".format), st.just("E+05")),
)


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    values=st.lists(st.tuples(number_texts, number_texts, st.booleans()), min_size=1, max_size=12),
    chunk_size=st.integers(1, 6),
)
def test_property_numbers_reach_the_contract_as_written(tmp_path, values, chunk_size):
    """Whatever the number's form (trailing zeros, exponents, 25 digits), in a value, a list
    or an object, on the pyarrow path or the Polars one (a key both text and object)."""
    shape = {True: "{}", False: '"t"'}  # an object in some lines, text in others
    lines = [
        f'{{"a": {a}, "l": [{b}, {a}], "o": {{"k": {b}}}, "s": {shape[nested]}}}'
        for a, b, nested in values
    ]
    path = write(tmp_path, lines, name="n.ndjson")
    got = rows(read_all(path, chunk_size=chunk_size))
    assert [(r["a"], r["l"], r["o_k"]) for r in got] == [(a, f"[{b},{a}]", b) for a, b, _ in values]
