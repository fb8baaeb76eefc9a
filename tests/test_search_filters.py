"""The filter language on its own: seed 001's table, value checks, and what date elements mean."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from commlog.domain.filters import (
    Equals,
    Field,
    FilterError,
    IsEmpty,
    OneOf,
    Range,
    RawCondition,
    StartsWith,
    build_filter,
)

# Seed 001, transcribed: the twelve selections with their data types, and each element's types.
SELECTIONS = {
    "SENDER_KEY": "KEY",
    "RECIPIENT_CLIENT_KEY": "KEY",
    "RECIPIENT_GROUP_KEY": "KEY",
    "RECIPIENT_USER_KEY": "KEY",
    "ENCODED_KEY": "KEY",
    "CREATION_DATE": "DATE_UTC",
    "SENT_DATE": "DATE_UTC",
    "STATE": "ENUM",
    "FAILURE_REASON": "ENUM",
    "DESTINATION": "STRING",
    "TYPE": "ENUM",
    "EVENT": "ENUM",
}
ELEMENTS = {
    "EQUALS": "BIG_DECIMAL,BOOLEAN,LONG,MONEY,NUMBER,PERCENT,STRING,ENUM,KEY",
    "MORE_THAN": "BIG_DECIMAL,NUMBER,MONEY",
    "LESS_THAN": "BIG_DECIMAL,NUMBER,MONEY",
    "BETWEEN": "BIG_DECIMAL,NUMBER,MONEY,DATE,DATE_UTC",
    "ON": "DATE,DATE_UTC",
    "AFTER": "DATE,DATE_UTC",
    "BEFORE": "DATE,DATE_UTC",
    "STARTS_WITH": "STRING",
    "IN": "ENUM,KEY",
    "TODAY": "DATE,DATE_UTC",
    "THIS_WEEK": "DATE,DATE_UTC",
    "THIS_MONTH": "DATE,DATE_UTC",
    "THIS_YEAR": "DATE,DATE_UTC",
    "LAST_DAYS": "DATE,DATE_UTC",
    "EMPTY": "BIG_DECIMAL,LONG,MONEY,NUMBER,PERCENT,STRING,ENUM,KEY,DATE,DATE_UTC",
    "NOT_EMPTY": "BIG_DECIMAL,LONG,MONEY,NUMBER,PERCENT,STRING,ENUM,KEY,DATE,DATE_UTC",
}
ARITY = {"BETWEEN": 2, "IN": 3, "TODAY": 0, "THIS_WEEK": 0, "THIS_MONTH": 0, "THIS_YEAR": 0, "EMPTY": 0, "NOT_EMPTY": 0}
SAMPLE = {"KEY": "8a0991f14de54ed1014de768d4a40c18", "DATE_UTC": "2026-03-02", "STRING": "https://example.com"}
ENUM_SAMPLE = {"STATE": "FAILED", "FAILURE_REASON": "TIMEOUT", "TYPE": "WEB_HOOK", "EVENT": "LOAN_CREATED"}

PAIRS = [(s, e) for s in SELECTIONS for e in ELEMENTS]


def seed_constraint(selection: str, element: str) -> dict[str, Any]:
    """A well-formed v1 constraint for the pair: as many values as the element takes, of the field's type."""
    value = ENUM_SAMPLE.get(selection) or SAMPLE[SELECTIONS[selection]]
    if element == "LAST_DAYS":
        value = "7"
    constraint: dict[str, Any] = {"filterSelection": selection, "filterElement": element}
    arity = ARITY.get(element, 1)
    if arity in (1, 2):
        constraint["value"] = value
    if arity == 2:
        constraint["secondValue"] = value
    if arity == 3:
        constraint["values"] = [value]
    return constraint


def seed_condition(selection: str, element: str) -> RawCondition:
    c = seed_constraint(selection, element)
    return RawCondition(Field[selection], element, c.get("value"), c.get("secondValue"), c.get("values"))


def allowed(selection: str, element: str) -> bool:
    return SELECTIONS[selection] in ELEMENTS[element].split(",")


def test_the_table_has_pairs_both_ways() -> None:
    assert 40 < sum(allowed(s, e) for s, e in PAIRS) < len(PAIRS) - 40


@pytest.mark.parametrize(("selection", "element"), PAIRS)
def test_every_seed_pair_is_allowed_exactly_as_the_table_says(selection: str, element: str) -> None:
    raw = seed_condition(selection, element)
    if allowed(selection, element):
        built = build_filter([raw])
        assert [(c.field.name, c.operator.value) for c in built.conditions] == [(selection, element)]
    else:
        with pytest.raises(FilterError) as caught:
            build_filter([raw])
        [problem] = caught.value.problems
        assert (problem.index, problem.part) == (0, "operator")
        assert f"{element} is not available for {selection} ({SELECTIONS[selection]})" in problem.reason


BAD: list[tuple[RawCondition, str, str]] = [
    (RawCondition(Field.STATE, "LIKE", "FAILED"), "operator", "'LIKE' is not an operator"),
    (RawCondition(Field.STATE, "EQUALS"), "value", "is required by EQUALS"),
    (RawCondition(Field.STATE, "EQUALS", "SENT", "FAILED"), "secondValue", "is not allowed with EQUALS"),
    (RawCondition(Field.CREATION_DATE, "BETWEEN", "2026-03-02"), "secondValue", "is required by BETWEEN"),
    (RawCondition(Field.CREATION_DATE, "TODAY", "2026-03-02"), "value", "is not allowed with TODAY"),
    (RawCondition(Field.STATE, "IN"), "values", "is required by IN"),
    (RawCondition(Field.STATE, "IN", values=[]), "values", "is required by IN"),
    (RawCondition(Field.STATE, "EQUALS", "DELIVERED"), "value", "'DELIVERED' is not one of FAILED, QUEUED"),
    (RawCondition(Field.STATE, "IN", values=["SENT", "LOST"]), "values[1]", "'LOST' is not one of"),
    (RawCondition(Field.TYPE, "EQUALS", 7), "value", "'7' is not one of EMAIL"),
    (RawCondition(Field.CREATION_DATE, "ON", "yesterday"), "value", "'yesterday' is not a date"),
    (RawCondition(Field.CREATION_DATE, "ON", 20260302), "value", "20260302 is not a date"),
    (RawCondition(Field.CREATION_DATE, "LAST_DAYS", "-3"), "value", "'-3' is not a number of days"),
    (RawCondition(Field.CREATION_DATE, "BETWEEN", "2026-03-02", "2026-03-01"), "secondValue", "is before value"),
    (RawCondition(Field.NUM_RETRIES, "MORE_THAN", "three"), "value", "'three' is not a number"),
    (RawCondition(Field.NUM_RETRIES, "LESS_THAN", "NaN"), "value", "'NaN' is not a finite number"),
    (RawCondition(Field.DESTINATION, "STARTS_WITH", ""), "value", "must not be empty"),
    (RawCondition(Field.DESTINATION, "EQUALS", {"a": 1}), "value", "must be a string, not dict"),
]


@pytest.mark.parametrize(("raw", "part", "reason"), BAD)
def test_bad_conditions_name_the_part_and_the_reason(raw: RawCondition, part: str, reason: str) -> None:
    with pytest.raises(FilterError) as caught:
        build_filter([RawCondition(Field.STATE, "EQUALS", "SENT"), raw])
    [problem] = caught.value.problems
    assert (problem.index, problem.part) == (1, part)
    assert reason in problem.reason


def test_every_problem_is_reported_at_once() -> None:
    raws = [RawCondition(Field.STATE, "EQUALS", "NOPE"), RawCondition(Field.TYPE, "ON", "2026-01-01")]
    with pytest.raises(FilterError) as caught:
        build_filter(raws)
    assert [(p.index, p.part) for p in caught.value.problems] == [(0, "value"), (1, "operator")]


def test_values_are_normalised() -> None:
    built = build_filter(
        [
            RawCondition(Field.STATE, "equals", "failed"),
            RawCondition(Field.NUM_RETRIES, "BETWEEN", 1, "2.5"),
            RawCondition(Field.SENT_DATE, "AFTER", "2015-06-12T10:55:16+0000"),
        ]
    )
    assert [c.values for c in built.conditions] == [
        ("FAILED",),
        (Decimal(1), Decimal("2.5")),
        (datetime(2015, 6, 12, 10, 55, 16, tzinfo=UTC),),
    ]


BERLIN = ZoneInfo("Europe/Berlin")
# Monday 2 March 2026, 00:30 in Berlin: still Sunday 1 March in UTC.
NOW = datetime(2026, 3, 1, 23, 30, tzinfo=UTC)


def berlin(*args: int) -> datetime:
    return datetime(*args, tzinfo=BERLIN)  # type: ignore[misc]


DATE_CASES: list[tuple[str, Any, Any, Range]] = [
    ("TODAY", None, None, Range("creation_date", berlin(2026, 3, 2), berlin(2026, 3, 3))),
    ("THIS_WEEK", None, None, Range("creation_date", berlin(2026, 3, 2), berlin(2026, 3, 9))),
    ("THIS_MONTH", None, None, Range("creation_date", berlin(2026, 3, 1), berlin(2026, 4, 1))),
    ("THIS_YEAR", None, None, Range("creation_date", berlin(2026, 1, 1), berlin(2027, 1, 1))),
    ("LAST_DAYS", 1, None, Range("creation_date", berlin(2026, 3, 2), berlin(2026, 3, 3))),
    ("LAST_DAYS", "7", None, Range("creation_date", berlin(2026, 2, 24), berlin(2026, 3, 3))),
    ("ON", "2026-02-28", None, Range("creation_date", berlin(2026, 2, 28), berlin(2026, 3, 1))),
    ("AFTER", "2026-02-28", None, Range("creation_date", lower=berlin(2026, 3, 1))),
    ("BEFORE", "2026-02-28", None, Range("creation_date", upper=berlin(2026, 2, 28))),
    ("BEFORE_INCLUSIVE", "2026-02-28", None, Range("creation_date", upper=berlin(2026, 3, 1))),
    ("BETWEEN", "2026-02-01", "2026-02-28", Range("creation_date", berlin(2026, 2, 1), berlin(2026, 3, 1))),
    (
        "AFTER",
        "2026-02-28T10:00:00Z",
        None,
        Range("creation_date", lower=datetime(2026, 2, 28, 10, tzinfo=UTC), lower_exclusive=True),
    ),
    ("ON", "2026-02-28T23:30:00Z", None, Range("creation_date", berlin(2026, 3, 1), berlin(2026, 3, 2))),
    (
        "BETWEEN",
        "2026-02-01T08:00:00",
        "2026-02-01T09:00:00+01:00",
        Range("creation_date", berlin(2026, 2, 1, 8), berlin(2026, 2, 1, 9), upper_inclusive=True),
    ),
]


@pytest.mark.parametrize(("element", "value", "second", "expected"), DATE_CASES)
def test_date_elements_are_days_in_the_workspace_zone(element: str, value: Any, second: Any, expected: Range) -> None:
    built = build_filter([RawCondition(Field.CREATION_DATE, element, value, second)])
    assert built.predicates(NOW, BERLIN) == [expected]


def test_date_elements_follow_the_clock() -> None:
    built = build_filter([RawCondition(Field.SENT_DATE, "TODAY")])
    assert built.predicates(NOW, UTC) == [
        Range("send_date", datetime(2026, 3, 1, tzinfo=UTC), datetime(2026, 3, 2, tzinfo=UTC))
    ]
    later = datetime(2026, 12, 31, 23, 59, tzinfo=UTC)
    assert built.predicates(later, UTC)[0].lower == datetime(2026, 12, 31, tzinfo=UTC)
    assert date(2027, 1, 1) == built.predicates(later, UTC)[0].upper.date()  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (RawCondition(Field.DESTINATION, "EQUALS", "A@b.c"), Equals("destination", "A@b.c", case_sensitive=False)),
        (RawCondition(Field.DESTINATION, "EQUALS_CASE_SENSITIVE", "A"), Equals("destination", "A")),
        (RawCondition(Field.STATE, "EQUALS", "sent"), Equals("state", "SENT")),
        (RawCondition(Field.DESTINATION, "STARTS_WITH", "https"), StartsWith("destination", "https", False)),
        (RawCondition(Field.TYPE, "IN", values=["SMS", "email"]), OneOf("type", ("SMS", "EMAIL"))),
        (RawCondition(Field.EVENT, "EMPTY"), IsEmpty("event", True)),
        (RawCondition(Field.NUM_RETRIES, "MORE_THAN", 2), Range("num_retries", lower=Decimal(2), lower_exclusive=True)),
    ],
)
def test_other_elements_mean_plain_comparisons(raw: RawCondition, expected: Any) -> None:
    assert build_filter([raw]).predicates(NOW, UTC) == [expected]
