"""What the communication log shows (seed 000's filters, columns and custom views), as pure data.

A `ViewDefinition` is the log page's state: Mambu v2-style criteria (field, operator, value,
secondValue, values), the columns in their order, and the sort. The page's query string, a saved
view's stored JSON and the views API all read into it here, and its criteria become the one
`Filter` through `build_filter`, so the dashboard has no filter parser of its own.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from commlog.domain.filters import (
    V2_FIELDS,
    Direction,
    Field,
    Filter,
    FilterError,
    Operator,
    RawCondition,
    Sort,
    build_filter,
)
from commlog.domain.permissions import Permission


@dataclass(frozen=True, slots=True)
class Column:
    label: str
    #: The message's contents: shown only to callers who may read them.
    contents: bool = False


#: Every column the log can show, in the order the chooser lists them.
COLUMNS: dict[str, Column] = {
    "created": Column("Created"),
    "state": Column("State"),
    "type": Column("Type"),
    "sender": Column("Sent by"),
    "destination": Column("Destination"),
    "event": Column("Event"),
    "sent": Column("Sent"),
    "recipient": Column("Recipient"),
    "subject": Column("Subject", contents=True),
    "message": Column("Message", contents=True),
    "retries": Column("Retries"),
    "failure": Column("Failure reason"),
    "product": Column("Product tag"),
    "env": Column("Environment"),
    "key": Column("Encoded key"),
}
DEFAULT_COLUMNS = ("created", "state", "type", "sender", "destination", "event", "sent", "recipient")

#: Orders a keyset cursor can resume (every message has the value), by Mambu v2 name.
SORTS: dict[str, Field] = {f.spec.v2_name: f for f in Field if f.spec.sortable and f.spec.required}

MAX_CRITERIA = 20
MAX_NAME = 80

Problems = list[tuple[str, str]]


@dataclass(frozen=True, slots=True)
class Criterion:
    """One condition as Mambu API v2 writes it; `field` is the v2 name."""

    field: str
    operator: str
    value: str | None = None
    second_value: str | None = None
    values: tuple[str, ...] | None = None

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {"field": self.field, "operator": self.operator}
        if self.value is not None:
            data["value"] = self.value
        if self.second_value is not None:
            data["secondValue"] = self.second_value
        if self.values is not None:
            data["values"] = list(self.values)
        return data

    @property
    def text(self) -> str:
        """The value as the filter bar's text box holds it: IN's values joined by commas."""
        return ", ".join(self.values) if self.values is not None else self.value or ""


@dataclass(frozen=True, slots=True)
class ViewDefinition:
    criteria: tuple[Criterion, ...] = ()
    columns: tuple[str, ...] = DEFAULT_COLUMNS
    sort: Sort = field(default_factory=Sort)

    def to_json(self) -> dict[str, Any]:
        return {
            "filterCriteria": [c.to_json() for c in self.criteria],
            "columns": list(self.columns),
            "sortingCriteria": {"field": self.sort.field.spec.v2_name, "order": self.sort.direction.value},
        }

    def query(self) -> list[tuple[str, str]]:
        """The log page's query string for this definition (what links, views and exports carry)."""
        pairs: list[tuple[str, str]] = []
        for c in self.criteria:
            pairs += [("field", c.field), ("op", c.operator), ("value", c.text), ("value2", c.second_value or "")]
        pairs += [("col", name) for name in self.columns]
        pairs += [("sort", self.sort.field.spec.v2_name), ("order", self.sort.direction.value)]
        return pairs

    def filter(self) -> Filter:
        """The one filter; FilterError names a problem by the criterion's index."""
        return build_filter([_raw(c) for c in self.criteria], self.sort)


def _raw(c: Criterion) -> RawCondition:
    values = list(c.values) if c.values is not None else None
    return RawCondition(V2_FIELDS[c.field], c.operator, c.value, c.second_value, values)


def criterion(field_name: str, operator: str, value: str, second_value: str = "") -> Criterion:
    """A filter bar row: IN takes comma-separated values, blank boxes mean no value."""
    op = operator.strip().upper()
    if op == Operator.IN.value:
        values = tuple(v.strip() for v in value.split(",") if v.strip())
        return Criterion(field_name, op, None, second_value or None, values or None)
    return Criterion(field_name, op, value or None, second_value or None)


def _check(definition: ViewDefinition, problems: Problems) -> Filter | None:
    for index, c in enumerate(definition.criteria):
        if c.field not in V2_FIELDS:
            problems.append((f"condition {index + 1} field", f"{c.field!r} is not a field; use one of {_names()}"))
    if problems:
        return None
    try:
        return definition.filter()
    except FilterError as error:
        problems += [(f"condition {p.index + 1} {p.part}", p.reason) for p in error.problems]
        return None


def _names() -> str:
    return ", ".join(V2_FIELDS)


def _columns(names: Sequence[str], problems: Problems, source: str) -> tuple[str, ...]:
    unknown = [n for n in names if n not in COLUMNS]
    if unknown:
        problems.append((source, f"{unknown[0]!r} is not a column; use some of {', '.join(COLUMNS)}"))
    chosen = tuple(dict.fromkeys(n for n in names if n in COLUMNS))
    if not chosen and not unknown:
        problems.append((source, "choose at least one column"))
    return chosen or DEFAULT_COLUMNS


def _sort(field_name: str, order: str, problems: Problems, sources: tuple[str, str]) -> Sort:
    found = SORTS.get(field_name or Sort().field.spec.v2_name)
    if found is None:
        problems.append((sources[0], f"{field_name!r} cannot be sorted by; use one of {', '.join(SORTS)}"))
    try:
        direction = Direction((order or "DESC").upper())
    except ValueError:
        problems.append((sources[1], f"{order!r} is not ASC or DESC"))
        direction = Direction.DESC
    return Sort(found or Sort().field, direction)


def _first(form: Mapping[str, Sequence[str]], name: str) -> str:
    values = form.get(name)
    return values[0].strip() if values else ""


def _at(items: Sequence[str], index: int) -> str:
    return items[index].strip() if index < len(items) else ""


def _ordered(form: Mapping[str, Sequence[str]], chosen: list[str], problems: Problems) -> list[str]:
    """The chosen columns in order: a column whose `pos_<col>` differs from where it was (`was`, the
    order the chooser showed) moves to that place; the others keep their order around it."""
    was = [n for n in _first(form, "was").split(",") if n]
    moved: list[tuple[int, int, str]] = []
    kept: list[str] = []
    for index, name in enumerate(chosen):
        raw = _first(form, f"pos_{name}")
        if raw and not raw.isdigit():
            problems.append((f"pos_{name}", f"{raw!r} is not a whole number"))
            raw = ""
        before = was.index(name) + 1 if name in was else 0
        if raw and int(raw) != before:
            moved.append((int(raw), index, name))
        else:
            kept.append(name)
    kept.sort(key=lambda n: (was.index(n) if n in was else len(was), chosen.index(n)))
    slots: list[str | None] = [None] * len(chosen)
    for rank, _, name in sorted(moved):
        at = min(max(rank, 1), len(slots)) - 1
        while slots[at] is not None:
            at = (at + 1) % len(slots)
        slots[at] = name
    rest = iter(kept)
    return [slot if slot is not None else next(rest) for slot in slots]


def parse_query(form: Mapping[str, Sequence[str]]) -> tuple[ViewDefinition, Filter | None, Problems]:
    """The log page's query string: rows of field/op/value/value2, `col` (ordered, or by `pos_<col>`),
    sort and order. Rows without a field are the filter bar's empty row and are skipped."""
    problems: Problems = []
    fields, ops = list(form.get("field", [])), list(form.get("op", []))
    values, seconds = list(form.get("value", [])), list(form.get("value2", []))
    rows = []
    for index, name in enumerate(fields):
        name = name.strip()
        if not name:
            continue
        rows.append(criterion(name, _at(ops, index), _at(values, index), _at(seconds, index)))
    if len(rows) > MAX_CRITERIA:
        problems.append(("field", f"a filter may have at most {MAX_CRITERIA} conditions"))
        rows = rows[:MAX_CRITERIA]
    chosen = [n.strip() for n in form.get("col", []) if n.strip()]
    ordered = _ordered(form, chosen, problems)
    columns = _columns(ordered, problems, "col") if "col" in form else DEFAULT_COLUMNS
    sort = _sort(_first(form, "sort"), _first(form, "order"), problems, ("sort", "order"))
    definition = ViewDefinition(tuple(rows), columns, sort)
    filter_ = _check(definition, problems)
    return definition, (filter_ if not problems else None), problems


def parse_json(data: Any) -> tuple[ViewDefinition, Problems]:
    """A stored or submitted definition (`to_json`'s shape); problems are named by JSON path."""
    problems: Problems = []
    if not isinstance(data, dict):
        return ViewDefinition(), [("definition", "must be an object")]
    raw_criteria = data.get("filterCriteria", [])
    criteria: list[Criterion] = []
    if not isinstance(raw_criteria, list) or len(raw_criteria) > MAX_CRITERIA:
        problems.append(("filterCriteria", f"must be a list of at most {MAX_CRITERIA} criteria"))
        raw_criteria = []
    for index, item in enumerate(raw_criteria):
        where = f"filterCriteria[{index}]"
        if not isinstance(item, dict) or not isinstance(item.get("field"), str):
            problems.append((where, "must be an object with field and operator"))
            continue
        texts = {k: item.get(k) for k in ("operator", "value", "secondValue")}
        bad = [k for k, v in texts.items() if v is not None and not isinstance(v, str)]
        many = item.get("values")
        if bad or (many is not None and not (isinstance(many, list) and all(isinstance(v, str) for v in many))):
            problems.append((f"{where}.{bad[0] if bad else 'values'}", "must be text (values: a list of text)"))
            continue
        criteria.append(
            Criterion(
                item["field"],
                str(texts["operator"] or "").upper(),
                texts["value"],
                texts["secondValue"],
                tuple(many) if many is not None else None,
            )
        )
    columns_raw = data.get("columns", list(DEFAULT_COLUMNS))
    if not isinstance(columns_raw, list) or not all(isinstance(c, str) for c in columns_raw):
        problems.append(("columns", "must be a list of column names"))
        columns_raw = list(DEFAULT_COLUMNS)
    columns = _columns(columns_raw, problems, "columns")
    sorting = data.get("sortingCriteria") or {}
    if not isinstance(sorting, dict):
        problems.append(("sortingCriteria", "must be an object with field and order"))
        sorting = {}
    sort = _sort(
        str(sorting.get("field") or ""),
        str(sorting.get("order") or ""),
        problems,
        ("sortingCriteria.field", "sortingCriteria.order"),
    )
    definition = ViewDefinition(tuple(criteria), columns, sort)
    if not problems:
        criteria_problems: Problems = []
        _check(definition, criteria_problems)
        problems += [(_json_name(name), message) for name, message in criteria_problems]
    return definition, problems


def _json_name(name: str) -> str:
    """'condition 2 value' as the JSON names it: 'filterCriteria[1].value'."""
    _, number, part = name.split(" ", 2)
    return f"filterCriteria[{int(number) - 1}].{part}"


def check_name(raw: str) -> tuple[str, Problems]:
    name = " ".join(raw.split())
    if not name:
        return name, [("name", "is required: give the view a name")]
    if len(name) > MAX_NAME:
        return name, [("name", f"is longer than {MAX_NAME} characters")]
    return name, []


def may_change(owner: str, shared: bool, actor: str, permissions: Collection[Permission]) -> bool:
    """Its owner may change or delete a view; a shared one also whoever manages the workspace's settings."""
    return owner == actor or (shared and Permission.MANAGE_SETTINGS in permissions)
