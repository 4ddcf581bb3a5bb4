"""Schema drift: how a source's shape differs from the last recorded one.

A shape is the source's columns, in order, with their type family (see `infer.py`).
`compare` classifies the differences:

- **added**: a column that was not there (``in_contract``: the contract names it);
- **removed**: a column that is gone (``required``: the contract requires it, so the
  chunk's rows are quarantined with "missing column X"; an optional one, ``Optional[T]``,
  loads NULL; a column the contract does not name was tolerated);
- **retyped**: values that no longer fit the recorded family (``integer`` -> ``text``);
  values that still fit it (integers in a float column, a sample without values) are
  not a change, so a column does not flap between files;
- **renamed** (probable): a removed and an added column of compatible families whose
  values overlap (the added column holds at least half of the removed one's sketch);
  such a pair is reported as a rename only, not also as added and removed.

Example:
    >>> before = {"id": "integer", "cust": "integer", "note": "text"}
    >>> after = {"id": "text", "customer": "integer", "channel": "text"}
    >>> d = compare(before, after, required={"id", "cust"},
    ...             overlap=lambda old, new: 1.0 if (old, new) == ("cust", "customer") else 0)
    >>> d.added, d.removed
    ([{'column': 'channel', 'type': 'text', 'in_contract': False}], \
[{'column': 'note', 'type': 'text', 'required': False}])
    >>> d.retyped
    [{'column': 'id', 'from': 'integer', 'to': 'text', 'required': True}]
    >>> d.renamed
    [{'from': 'cust', 'to': 'customer', 'type': 'integer', 'overlap': 1.0, 'required': True}]
"""

from __future__ import annotations

from collections.abc import Callable, Collection
from dataclasses import dataclass, field
from typing import Any

from polaretl.validate.infer import fits

RENAME_OVERLAP = 0.5

Overlap = Callable[[str, str], float]


@dataclass
class Drift:
    """The differences between two shapes, and the shape to record."""

    columns: dict[str, str]
    added: list[dict[str, Any]] = field(default_factory=list)
    removed: list[dict[str, Any]] = field(default_factory=list)
    retyped: list[dict[str, Any]] = field(default_factory=list)
    renamed: list[dict[str, Any]] = field(default_factory=list)

    @property
    def changed(self) -> bool:
        return bool(self.added or self.removed or self.retyped or self.renamed)

    def summary(self) -> str:
        """One line for humans.

        Example:
            >>> Drift({}, added=[{"column": "x", "type": "text"}]).summary()
            'added x (text)'
        """
        parts = [f"added {a['column']} ({a['type']})" for a in self.added]
        parts += [
            f"removed {r['column']}" + (" (required: rows quarantined)" if r["required"] else "")
            for r in self.removed
        ]
        parts += [f"retyped {r['column']} {r['from']} -> {r['to']}" for r in self.retyped]
        parts += [f"renamed? {r['from']} -> {r['to']}" for r in self.renamed]
        return "; ".join(parts) or "no change"


def compare(
    previous: dict[str, str] | None,
    current: dict[str, str],
    *,
    required: Collection[str] = (),
    named: Collection[str] | None = None,
    overlap: Overlap = lambda old, new: 0.0,
) -> Drift:
    """Classify how `current` (column -> family) differs from `previous`.

    Args:
        previous: the last recorded shape, or None (the first: nothing to differ from).
        current: the shape just seen.
        required: the columns the contract requires (a source without one is quarantined).
        named: the columns the contract names, optional ones included (default: `required`).
        overlap: ``(removed, added) -> share`` of the removed column's recorded values
            found in the added one; called only for pairs of compatible families.
    """
    if previous is None:
        return Drift(dict(current))
    # the recorded family stays while values still fit it (no flapping between files)
    columns = {
        name: previous[name] if name in previous and fits(seen, previous[name]) else seen
        for name, seen in current.items()
    }
    drift = Drift(columns)
    drift.retyped = [
        {"column": n, "from": previous[n], "to": seen, "required": n in required}
        for n, seen in current.items()
        if n in previous and not fits(seen, previous[n])
    ]
    gone = [n for n in previous if n not in current]
    new = [n for n in current if n not in previous]
    pairs = sorted(
        (
            (share, old, added)
            for old in gone
            for added in new
            if _compatible(previous[old], current[added])
            and (share := overlap(old, added)) >= RENAME_OVERLAP
        ),
        key=lambda p: -p[0],
    )
    for share, old, added in pairs:
        if old in gone and added in new:
            gone.remove(old)
            new.remove(added)
            drift.renamed.append(
                {
                    "from": old,
                    "to": added,
                    "type": columns[added],
                    "overlap": round(share, 3),
                    "required": old in required,
                }
            )
    named = set(required if named is None else named)
    drift.added = [{"column": n, "type": current[n], "in_contract": n in named} for n in new]
    drift.removed = [{"column": n, "type": previous[n], "required": n in required} for n in gone]
    return drift


def _compatible(old: str, new: str) -> bool:
    return "null" not in (old, new) and (fits(old, new) or fits(new, old))
