"""Parsing the heads of the `pg_dump` statements polaretl reads.

Only ``COPY ... FROM stdin`` headers, ``INSERT`` heads, ``CREATE TABLE`` column lists and
two ``SET`` options are interpreted; every other statement is ignored.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from polaretl.extract.pgdump.names import parse_table_name, split_identifiers, unquote_ident
from polaretl.extract.pgdump.read import Statement

_QNAME = r'(?:"(?:[^"]|"")+"|[^\s(),;."]+)(?:\s*\.\s*(?:"(?:[^"]|"")+"|[^\s(),;."]+))*'
_COLS = r'\((?P<cols>(?:"(?:[^"]|"")*"|[^")])*)\)'
_COPY_HEAD = re.compile(
    rf"\s*\\?COPY\s+(?P<name>{_QNAME})\s*(?:{_COLS})?\s*FROM\s+(?P<src>[^\s;]+)(?P<opts>.*?);?\s*\Z",
    re.I | re.S,
)
_INSERT_HEAD = re.compile(
    rf"\s*INSERT\s+INTO\s+(?P<name>{_QNAME})\s*(?:{_COLS})?\s*"
    r"(?:OVERRIDING\s+(?:SYSTEM|USER)\s+VALUE\s+)?VALUES\s*",
    re.I | re.S,
)
_CREATE_HEAD = re.compile(
    rf"\s*CREATE\s+(?:(?:GLOBAL|LOCAL)\s+)?(?:(?:TEMP|TEMPORARY|UNLOGGED)\s+)?TABLE\s+"
    rf"(?:IF\s+NOT\s+EXISTS\s+)?(?P<name>{_QNAME})\s*\(",
    re.I | re.S,
)
_SET = re.compile(
    r"\s*SET\s+(?P<key>standard_conforming_strings|client_encoding)\s*(?:=|TO)\s*'?(?P<val>[\w-]+)'?",
    re.I,
)
_KIND = re.compile(rb"\s*(\\?copy|insert|create|set)\b", re.I)


@dataclass
class CopyHeader:
    """``COPY name (cols) FROM stdin``: a data block follows."""

    table: tuple[str | None, str]
    columns: list[str] | None
    from_stdin: bool
    options: str


@dataclass
class InsertStatement:
    """``INSERT INTO name [(cols)] VALUES ...``: `values_at` is where the tuples begin."""

    table: tuple[str | None, str]
    columns: list[str] | None
    text: str
    values_at: int


@dataclass
class CreateTable:
    """``CREATE TABLE name (...)``: the column names and which are generated."""

    table: tuple[str | None, str]
    columns: list[str]
    generated: list[int]


def statement_kind(stmt: Statement) -> str | None:
    """``copy``, ``insert``, ``create`` or ``set``; None for anything else (ignored)."""
    m = _KIND.match(stmt.text)
    return m.group(1).decode().lower().lstrip("\\") if m else None


def parse_copy(text: str) -> CopyHeader | None:
    """Parse a ``COPY`` statement or psql ``\\copy`` line; None if it is not one."""
    m = _COPY_HEAD.match(text)
    if m is None:
        return None
    cols = m.group("cols")
    src = m.group("src").lower().strip("'\"")
    return CopyHeader(
        table=parse_table_name(m.group("name")),
        columns=split_identifiers(cols, ",") if cols is not None and cols.strip() else None,
        from_stdin=src in ("stdin", "pstdin"),
        options=m.group("opts").strip(),
    )


def parse_insert_head(text: str) -> InsertStatement | None:
    """Parse the head of an ``INSERT``; None when it is not one polaretl understands."""
    m = _INSERT_HEAD.match(text)
    if m is None:
        return None
    cols = m.group("cols")
    try:
        table = parse_table_name(m.group("name"))
        columns = split_identifiers(cols, ",") if cols is not None else None
    except ValueError:
        return None
    return InsertStatement(table, columns, text, m.end())


_CT_TOKEN = re.compile(r"'(?:[^']|'')*'|\"(?:[^\"]|\"\")*\"|[(),]|[^'\"(),]+", re.S)
_NOT_COLUMN = {"CONSTRAINT", "PRIMARY", "UNIQUE", "CHECK", "FOREIGN", "EXCLUDE", "LIKE"}
_QUOTED_IDENT = re.compile(r'"(?:[^"]|"")+"')
_GENERATED = re.compile(r"\bGENERATED\s+ALWAYS\s+AS\s*\(", re.I)


def parse_create_table(text: str) -> CreateTable | None:
    """Column names of a ``CREATE TABLE``; None for forms without a column list."""
    m = _CREATE_HEAD.match(text)
    if m is None:
        return None
    depth = 1
    items: list[str] = []
    current: list[str] = []
    for tok in _CT_TOKEN.findall(text, m.end()):
        if tok == "(":
            depth += 1
        elif tok == ")":
            depth -= 1
            if depth == 0:
                items.append("".join(current))
                break
        elif tok == "," and depth == 1:
            items.append("".join(current))
            current = []
            continue
        current.append(tok)
    columns: list[str] = []
    generated: list[int] = []
    for item in items:
        item = item.strip()
        if not item:
            continue
        quoted = _QUOTED_IDENT.match(item)
        if quoted is not None:
            first = quoted.group(0)
        else:
            first = item.split(None, 1)[0]
            if first.upper() in _NOT_COLUMN:
                continue
        if _GENERATED.search(item):
            generated.append(len(columns))
        columns.append(unquote_ident(first))
    return CreateTable(parse_table_name(m.group("name")), columns, generated)


def parse_set(text: str) -> tuple[str, str] | None:
    """``SET standard_conforming_strings = on`` -> ``("standard_conforming_strings", "on")``."""
    m = _SET.match(text)
    return (m.group("key").lower(), m.group("val")) if m else None
