"""Sources whose column names repeat (a CSV header ``id,v,v``, a Parquet schema): which
value is ``v`` cannot be told, so every record of that file is quarantined, its fields
named by position, and the other files of the glob load.
"""

from __future__ import annotations

import polars as pl


def repeated_names(
    names: list[str], where: str, fix: str = "in the header"
) -> tuple[list[str], str | None]:
    """Column names for the frame, and what is wrong with them (None: nothing). A
    repeated name is named by position wherever it appears.

    Args:
        names: the columns as the source names them.
        where: the names' place in a message, e.g. ``the header of a.csv``.
        fix: where to rename them, in the message.

    Example:
        >>> names, fault = repeated_names(["id", "v", "v"], "the header of a.csv")
        >>> names
        ['id', 'v (column 2)', 'v (column 3)']
        >>> fault[:55]
        'the header of a.csv repeats column v (columns 2 and 3),'
    """
    seen: dict[str, list[int]] = {}
    for i, name in enumerate(names, start=1):
        seen.setdefault(name, []).append(i)
    repeated = {n: at for n, at in seen.items() if len(at) > 1}
    if not repeated:
        return names, None
    unique = [f"{n} (column {i})" if n in repeated else n for i, n in enumerate(names, start=1)]
    which = "; ".join(
        f"column {n} (columns {', '.join(map(str, at[:-1]))} and {at[-1]})"
        for n, at in repeated.items()
    )
    return unique, (
        f"{where} repeats {which}, so which field is {' or '.join(repeated)} cannot be "
        f"told; rename the repeated columns {fix} and run again"
    )


def unmapped(
    frame: pl.DataFrame,
    labels: pl.Series,
    fault: str,
    check: str,
    lines: pl.Series | None = None,
) -> pl.DataFrame:
    """Every record of `frame` as a reject (``source``, ``raw``, ``errors``) of names
    that cannot be mapped (`fault`): raw with its fields named by position; with
    `lines`, each error names its line (``row 3: ...``)."""
    fields = {
        "column": pl.lit(None, pl.String),
        "check": pl.lit(check),
        "value": pl.lit(None, pl.String),
        "message": pl.lit(fault),
    }
    if lines is not None:
        text = pl.lit(lines.cast(pl.String))
        fields["message"] = pl.concat_str(pl.lit("row "), text, pl.lit(f": {fault}"))
        fields["line"] = pl.lit(lines)
    error = pl.struct([e.alias(name) for name, e in fields.items()])
    return frame.select(
        pl.lit(labels).alias("source"),
        pl.struct(pl.all()).struct.json_encode().alias("raw"),
        pl.concat_str(pl.lit("["), error.struct.json_encode(), pl.lit("]")).alias("errors"),
    )
