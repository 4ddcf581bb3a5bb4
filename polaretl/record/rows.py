"""Query results of the ``polaretl`` tables as Polars frames, for the record modules."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import polars as pl
from psycopg import sql

from polaretl.core import Connection


def frame(
    conn: Connection,
    statement: str | sql.Composable,
    params: Sequence[Any] | dict[str, Any] = (),
    *,
    empty_as_text: bool = False,
) -> pl.DataFrame:
    """The rows of one query, columns named as selected (types inferred from every row).

    With `empty_as_text`, a query without rows gives its columns as text (a frame the
    app can show and filter) instead of columns of type Null.
    """
    cur = conn.execute(statement, params)  # type: ignore[arg-type]
    names = [d.name for d in cur.description or []]
    rows = cur.fetchall()
    if not rows and empty_as_text:
        return pl.DataFrame(schema=dict.fromkeys(names, pl.String))
    return pl.DataFrame(rows, schema=names, orient="row", infer_schema_length=None)


def where(**filters: Any) -> tuple[sql.Composable, list[Any]]:
    """``WHERE a = %s AND ...`` over the filters that are not None (keys are trusted
    column names; ``since`` compares with ``started_at``).

    Example:
        >>> clause, params = where(pipeline="orders", status=None, run_id=7)
        >>> clause.as_string(None), params
        (' WHERE TRUE AND "pipeline" = %s AND "run_id" = %s', ['orders', 7])
    """
    parts: list[sql.Composable] = [sql.SQL("TRUE")]
    params: list[Any] = []
    for key, value in filters.items():
        if value is None:
            continue
        if key == "since":
            parts.append(sql.SQL("started_at >= %s"))
        else:
            parts.append(sql.SQL("{} = %s").format(sql.Identifier(key)))
        params.append(value)
    return sql.SQL(" WHERE ") + sql.SQL(" AND ").join(parts), params
