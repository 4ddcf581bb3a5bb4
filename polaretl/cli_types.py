"""Parameter types of the CLI's numeric options: a bad value is click's usage error
(exit 2, the option named, what is expected), never a traceback from deeper down.

Record and run ids are PostgreSQL ``bigint`` (1 to 2**63 - 1): a number outside that
range would fail in the driver, so it is refused here with the rest.
"""

from __future__ import annotations

import re

import click

#: The largest PostgreSQL bigint: the ids of runs and quarantined records.
MAX_ID = 2**63 - 1

#: A run id or a record id.
ID = click.IntRange(1, MAX_ID)
#: How many rows to show.
LIMIT = click.IntRange(1, MAX_ID)
#: How many worker processes.
PROCESSES = click.IntRange(1, 1024)
#: A TCP port to listen on.
PORT = click.IntRange(1, 65535)

_DIGITS = re.compile(r"[0-9]+")


def parse_id(text: str | None) -> int | None:
    """`text` as a run or record id, or None when it is not one (``str.isdigit`` would
    take ``²``, which ``int`` then refuses; a number past bigint fails in the driver).

    Example:
        >>> parse_id("42"), parse_id(" 7 "), parse_id("²"), parse_id("1e3"), parse_id(str(2**63))
        (42, 7, None, None, None)
    """
    part = (text or "").strip()
    if not _DIGITS.fullmatch(part) or not 1 <= int(part) <= MAX_ID:
        return None
    return int(part)


class IdList(click.ParamType[list[int]]):
    """Record ids, comma-separated (``1,2,3``); the option may be repeated.

    Example:
        >>> IdList().convert("1, 2,3", None, None)
        [1, 2, 3]
        >>> IdList().convert("1) or (1=1", None, None)
        Traceback (most recent call last):
        ...
        click.exceptions.BadParameter: '1) or (1=1' is not a record id: give whole numbers \
from 1, comma-separated, e.g. --ids 4,7,12.
    """

    name = "ids"

    def convert(
        self, value: object, param: click.Parameter | None, ctx: click.Context | None
    ) -> list[int]:
        if isinstance(value, list):
            return value
        ids = []
        for part in (p.strip() for p in str(value).split(",")):
            if not part:
                continue
            id_ = parse_id(part)
            if id_ is None:
                self.fail(
                    f"{part!r} is not a record id: give whole numbers from 1, "
                    "comma-separated, e.g. --ids 4,7,12.",
                    param,
                    ctx,
                )
            ids.append(id_)
        return ids
