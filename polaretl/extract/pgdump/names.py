"""SQL identifiers and table names in `pg_dump` files: unquoting, splitting, matching."""

from __future__ import annotations

import re


def unquote_ident(ident: str) -> str:
    """An SQL identifier as PostgreSQL stores it: quoted kept as is, unquoted folded.

    Example:
        >>> unquote_ident('"Full Name"'), unquote_ident("Amount")
        ('Full Name', 'amount')
    """
    ident = ident.strip()
    if len(ident) >= 2 and ident[0] == '"' and ident[-1] == '"':
        return ident[1:-1].replace('""', '"')
    return ident.lower()


_IDENT_TOKEN = re.compile(r'\s*("(?:[^"]|"")+"|[^\s,."]+)\s*([.,]|\Z)')


def split_identifiers(text: str, sep: str) -> list[str]:
    """Split ``a, "b,c"`` (sep ``,``) or ``public."T"`` (sep ``.``) into unquoted names.

    Example:
        >>> split_identifiers('id, "Full Name", note', ","), split_identifiers('public."T"', ".")
        (['id', 'Full Name', 'note'], ['public', 'T'])
    """
    names: list[str] = []
    pos = 0
    text = text.strip()
    while pos < len(text):
        m = _IDENT_TOKEN.match(text, pos)
        if m is None or (m.group(2) not in (sep, "")):
            raise ValueError(f"not a list of identifiers: {text!r}")
        names.append(unquote_ident(m.group(1)))
        pos = m.end()
    return names


def parse_table_name(name: str) -> tuple[str | None, str]:
    """``public.customers`` -> ``("public", "customers")``; no schema -> ``(None, name)``.

    Example:
        >>> parse_table_name('public."Order Items"'), parse_table_name("Customers")
        (('public', 'Order Items'), (None, 'customers'))
    """
    parts = split_identifiers(name, ".")
    if len(parts) == 1:
        return None, parts[0]
    if len(parts) == 2:
        return parts[0], parts[1]
    return parts[-2], parts[-1]  # database.schema.table: the database is ignored


def format_table_name(schema: str | None, name: str) -> str:
    """The canonical text of a table name, quoting only where needed."""

    def q(ident: str) -> str:
        if re.fullmatch(r"[a-z_][a-z0-9_$]*", ident):
            return ident
        return '"' + ident.replace('"', '""') + '"'

    return f"{q(schema)}.{q(name)}" if schema else q(name)


def names_match(wanted: tuple[str | None, str], found: tuple[str | None, str]) -> bool:
    """Equal names, and equal schemas when both sides name one."""
    if wanted[1] != found[1]:
        return False
    return wanted[0] is None or found[0] is None or wanted[0] == found[0]
