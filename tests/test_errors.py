"""The one exception tree: every error polaretl defines is in `polaretl/errors.py`, drawn
in its docstring, and of at most one retry kind."""

from __future__ import annotations

import ast
import inspect
import pickle
import re

import pytest

import polaretl.errors as errors
from tests.helpers import ROOT

TREE = [
    cls
    for cls in vars(errors).values()
    if isinstance(cls, type) and issubclass(cls, errors.PolaretlError)
]


def test_every_exception_class_of_the_package_is_in_errors_py() -> None:
    outside = []
    for path in sorted((ROOT / "polaretl").rglob("*.py")):
        if path.name == "errors.py" and path.parent.name == "polaretl":
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ClassDef) and (
                node.name.endswith(("Error", "Exception"))
                or any(ast.unparse(b).endswith(("Error", "Exception")) for b in node.bases)
            ):
                outside.append(f"{path.relative_to(ROOT)}:{node.lineno} {node.name}")
    assert not outside, f"exceptions outside polaretl/errors.py: {outside}"


def test_the_docstring_draws_every_error() -> None:
    drawn = set(re.findall(r"^ *([A-Z]\w+Error)\b", errors.__doc__ or "", re.MULTILINE))
    assert drawn == {cls.__name__ for cls in TREE}


@pytest.mark.parametrize("cls", TREE, ids=lambda c: c.__name__)
def test_an_error_is_transient_or_terminal_or_neither_never_both(cls: type) -> None:
    assert not (issubclass(cls, errors.Transient) and issubclass(cls, errors.Terminal))
    if "[Transient]" in _drawn_line(cls):
        assert issubclass(cls, errors.Transient)
    if "[Terminal]" in _drawn_line(cls):
        assert issubclass(cls, errors.Terminal)


@pytest.mark.parametrize("cls", TREE, ids=lambda c: c.__name__)
def test_errors_pickle_with_their_attributes(cls: type) -> None:
    exc = cls("what broke; what to do", run_id=7)
    again = pickle.loads(pickle.dumps(exc))
    assert type(again) is cls and str(again) == str(exc) and again.attrs() == {"run_id": 7}


def test_a_wait_timeout_is_still_a_timeout_error() -> None:
    with pytest.raises(TimeoutError):
        raise errors.WaitTimeoutError("still running", run_id=1)


def _drawn_line(cls: type) -> str:
    source = inspect.getdoc(errors) or ""
    return next((line for line in source.splitlines() if f" {cls.__name__} " in line), "")
