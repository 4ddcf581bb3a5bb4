"""`polaretl/record/` is the only package that reads or writes the ``polaretl`` schema:
no SQL statement outside it names a ``polaretl.*`` table."""

from __future__ import annotations

import ast
import re

from tests.helpers import ROOT

#: a statement's reference to a polaretl table (prose such as "in polaretl.runs" is not)
STATEMENT = re.compile(
    r"\b(?:FROM|INTO|UPDATE|JOIN|TABLE|COPY|TRUNCATE|USING)\s+polaretl\.[a-z_]+", re.IGNORECASE
)


def statements(source: str) -> list[tuple[int, str]]:
    """(line, text) of the string literals in `source` (docstrings left out) that hold a
    statement on a polaretl table."""
    tree = ast.parse(source)
    docstrings = {
        id(node.body[0].value)
        for node in ast.walk(tree)
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef)
        and node.body
        and isinstance(node.body[0], ast.Expr)
        and isinstance(node.body[0].value, ast.Constant)
    }
    found: dict[int, str] = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.JoinedStr):
            text = ast.unparse(node)
        elif isinstance(node, ast.Constant) and isinstance(node.value, str):
            text = "" if id(node) in docstrings else node.value
        else:
            continue
        if STATEMENT.search(text):
            found.setdefault(node.lineno, text)  # an f-string's parts are on its line
    return sorted(found.items())


def test_no_sql_on_the_polaretl_schema_outside_record() -> None:
    outside = [
        f"{path.relative_to(ROOT)}:{line}: {text[:60]!r}"
        for path in sorted((ROOT / "polaretl").rglob("*.py"))
        if "record" not in path.relative_to(ROOT / "polaretl").parts[:1]
        for line, text in statements(path.read_text())
    ]
    assert not outside, "SQL on polaretl.* outside polaretl/record/:\n" + "\n".join(outside)


def test_the_check_finds_statements_and_not_prose() -> None:
    source = (
        '"""Written to polaretl.runs."""\n'
        'A = "SELECT 1 FROM polaretl.runs WHERE x"\n'
        'B = f"UPDATE polaretl.quarantine SET {c}"\n'
        'C = "kept in polaretl.checkpoints"\n'
    )
    assert [line for line, _ in statements(source)] == [2, 3]
