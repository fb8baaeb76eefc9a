"""One filter language for every way of searching the log (DESIGN.md, idea 7).

Mambu v1 `filterConstraints`, Mambu v2 `filterCriteria`, seed 002's query options and the dashboard
all become the same `Filter`: conditions on typed fields, each operator allowed only on the data
types seed 001's table lists. A dialect parses its own names into `RawCondition`s; `build_filter`
checks them all and reports every problem with the condition's index, the part and the reason.

`Filter.predicates` then turns relative date elements (TODAY, THIS_WEEK, LAST_DAYS, ...) into
absolute ranges with an injected clock and the workspace's time zone, so the store compiles only
plain comparisons and the meaning of "today" is tested without a database.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta, tzinfo
from decimal import Decimal, InvalidOperation
from enum import Enum, StrEnum
from typing import Any

from commlog.domain.failures import CATALOGUE
from commlog.domain.states import MessageState, MessageType, WaitingReason


class DataType(StrEnum):
    """Seed 001's data types; commlog's fields use KEY, DATE_UTC, ENUM, STRING and NUMBER."""

    BIG_DECIMAL = "BIG_DECIMAL"
    BOOLEAN = "BOOLEAN"
    LONG = "LONG"
    MONEY = "MONEY"
    NUMBER = "NUMBER"
    PERCENT = "PERCENT"
    STRING = "STRING"
    ENUM = "ENUM"
    KEY = "KEY"
    DATE = "DATE"
    DATE_UTC = "DATE_UTC"


class Arity(Enum):
    """How many values an operator takes (seed 001's "Number of affected values")."""

    NO_VALUE = 0
    ONE_VALUE = 1
    TWO_VALUES = 2
    LIST = 3


class Operator(StrEnum):
    EQUALS = "EQUALS"
    EQUALS_CASE_SENSITIVE = "EQUALS_CASE_SENSITIVE"
    MORE_THAN = "MORE_THAN"
    LESS_THAN = "LESS_THAN"
    BETWEEN = "BETWEEN"
    ON = "ON"
    AFTER = "AFTER"
    BEFORE = "BEFORE"
    BEFORE_INCLUSIVE = "BEFORE_INCLUSIVE"
    STARTS_WITH = "STARTS_WITH"
    STARTS_WITH_CASE_SENSITIVE = "STARTS_WITH_CASE_SENSITIVE"
    IN = "IN"
    TODAY = "TODAY"
    THIS_WEEK = "THIS_WEEK"
    THIS_MONTH = "THIS_MONTH"
    THIS_YEAR = "THIS_YEAR"
    LAST_DAYS = "LAST_DAYS"
    EMPTY = "EMPTY"
    NOT_EMPTY = "NOT_EMPTY"


_T = DataType
_NUMERIC = frozenset({_T.BIG_DECIMAL, _T.NUMBER, _T.MONEY})
_DATES = frozenset({_T.DATE, _T.DATE_UTC})
_EQUALITY = frozenset(
    {_T.BIG_DECIMAL, _T.BOOLEAN, _T.LONG, _T.MONEY, _T.NUMBER, _T.PERCENT, _T.STRING, _T.ENUM, _T.KEY}
)
_ANY = frozenset(_T) - {_T.BOOLEAN}

#: Seed 001's table: each operator's arity and the data types it is available for. The v2-only
#: operators (…_CASE_SENSITIVE, BEFORE_INCLUSIVE) follow their v1 counterparts.
OPERATORS: dict[Operator, tuple[Arity, frozenset[DataType]]] = {
    Operator.EQUALS: (Arity.ONE_VALUE, _EQUALITY),
    Operator.EQUALS_CASE_SENSITIVE: (Arity.ONE_VALUE, _EQUALITY),
    Operator.MORE_THAN: (Arity.ONE_VALUE, _NUMERIC),
    Operator.LESS_THAN: (Arity.ONE_VALUE, _NUMERIC),
    Operator.BETWEEN: (Arity.TWO_VALUES, _NUMERIC | _DATES),
    Operator.ON: (Arity.ONE_VALUE, _DATES),
    Operator.AFTER: (Arity.ONE_VALUE, _DATES),
    Operator.BEFORE: (Arity.ONE_VALUE, _DATES),
    Operator.BEFORE_INCLUSIVE: (Arity.ONE_VALUE, _DATES),
    Operator.STARTS_WITH: (Arity.ONE_VALUE, frozenset({_T.STRING})),
    Operator.STARTS_WITH_CASE_SENSITIVE: (Arity.ONE_VALUE, frozenset({_T.STRING})),
    Operator.IN: (Arity.LIST, frozenset({_T.ENUM, _T.KEY})),
    Operator.TODAY: (Arity.NO_VALUE, _DATES),
    Operator.THIS_WEEK: (Arity.NO_VALUE, _DATES),
    Operator.THIS_MONTH: (Arity.NO_VALUE, _DATES),
    Operator.THIS_YEAR: (Arity.NO_VALUE, _DATES),
    Operator.LAST_DAYS: (Arity.ONE_VALUE, _DATES),
    Operator.EMPTY: (Arity.NO_VALUE, _ANY),
    Operator.NOT_EMPTY: (Arity.NO_VALUE, _ANY),
}


@dataclass(frozen=True, slots=True)
class FieldSpec:
    """A searchable message attribute: its type, and its names in the Mambu v1 and v2 dialects."""

    data_type: DataType
    #: The message attribute (and store column) the field reads.
    attribute: str
    #: Mambu API v2's name; v1's name is the Field's own name.
    v2_name: str
    #: The values an ENUM field may hold; None for an open set (events are the sender's own names).
    values: frozenset[str] | None = None
    sortable: bool = False
    #: Whether every message has a value, so keyset paging can use it.
    required: bool = False


class Field(Enum):
    """Seed 001's twelve selections, WAITING_REASON, and the attributes seed 002 and v2 filter on."""

    ENCODED_KEY = FieldSpec(_T.KEY, "encoded_key", "encodedKey", sortable=True, required=True)
    SENDER_KEY = FieldSpec(_T.KEY, "sender_key", "senderKey", sortable=True, required=True)
    RECIPIENT_CLIENT_KEY = FieldSpec(_T.KEY, "client_key", "clientKey", sortable=True)
    RECIPIENT_GROUP_KEY = FieldSpec(_T.KEY, "group_key", "groupKey", sortable=True)
    RECIPIENT_USER_KEY = FieldSpec(_T.KEY, "user_key", "userKey", sortable=True)
    CREATION_DATE = FieldSpec(_T.DATE_UTC, "creation_date", "creationDate", sortable=True, required=True)
    SENT_DATE = FieldSpec(_T.DATE_UTC, "send_date", "sendDate", sortable=True)
    STATE = FieldSpec(_T.ENUM, "state", "state", frozenset(MessageState), required=True)
    WAITING_REASON = FieldSpec(_T.ENUM, "waiting_reason", "waitingReason", frozenset(WaitingReason))
    FAILURE_REASON = FieldSpec(_T.ENUM, "failure_reason", "failureReason", frozenset(CATALOGUE))
    FAILURE_CAUSE = FieldSpec(_T.STRING, "failure_cause", "failureCause")
    DESTINATION = FieldSpec(_T.STRING, "destination", "destination", required=True)
    TYPE = FieldSpec(_T.ENUM, "type", "type", frozenset(MessageType), sortable=True, required=True)
    EVENT = FieldSpec(_T.ENUM, "event", "event")
    NUM_RETRIES = FieldSpec(_T.NUMBER, "num_retries", "numRetries", required=True)
    PARENT_KEY = FieldSpec(_T.KEY, "parent_key", "parentKey")
    PRODUCT_TAG = FieldSpec(_T.STRING, "product_tag", "productTag")
    PRODUCT_ID = FieldSpec(_T.STRING, "product_id", "productId")
    ENV = FieldSpec(_T.STRING, "env", "env")
    NOTIFICATION_TAG = FieldSpec(_T.STRING, "notification_tag", "notificationTag")
    PROCESS_ID = FieldSpec(_T.STRING, "process_id", "processId")
    #: The multi-channel notification a message was fanned out from (issue 5).
    NOTIFICATION_KEY = FieldSpec(_T.KEY, "notification_key", "notificationKey")

    @property
    def spec(self) -> FieldSpec:
        spec: FieldSpec = self.value
        return spec


#: Fields by Mambu v1 filterSelection name and by Mambu v2 field name.
V1_FIELDS: dict[str, Field] = {f.name: f for f in Field}
V2_FIELDS: dict[str, Field] = {f.spec.v2_name: f for f in Field}


class Direction(StrEnum):
    ASC = "ASC"
    DESC = "DESC"


@dataclass(frozen=True, slots=True)
class Sort:
    """The order of results; ties are always broken by encoded key, so every order is total."""

    field: Field = Field.CREATION_DATE
    direction: Direction = Direction.DESC


@dataclass(frozen=True, slots=True)
class FilterProblem:
    """What is wrong with condition `index`: `part` is field, operator, value, secondValue or values."""

    index: int
    part: str
    reason: str


class FilterError(ValueError):
    def __init__(self, problems: Sequence[FilterProblem]) -> None:
        super().__init__("; ".join(f"[{p.index}].{p.part}: {p.reason}" for p in problems))
        self.problems = list(problems)


@dataclass(frozen=True, slots=True)
class RawCondition:
    """A condition as a dialect received it: the field already resolved, everything else as sent."""

    field: Field
    operator: str
    value: Any = None
    second_value: Any = None
    values: Any = None


#: A value after parsing: text, a number, a moment, a calendar day (resolved in the workspace's zone),
#: or a count of days.
Value = str | Decimal | datetime | date | int


@dataclass(frozen=True, slots=True)
class Condition:
    field: Field
    operator: Operator
    values: tuple[Value, ...] = ()


# Predicates: what a condition means once dates are absolute; the store compiles each 1:1 to SQL.


@dataclass(frozen=True, slots=True)
class Equals:
    attribute: str
    value: Value
    case_sensitive: bool = True


@dataclass(frozen=True, slots=True)
class OneOf:
    attribute: str
    values: tuple[Value, ...]


@dataclass(frozen=True, slots=True)
class Range:
    """lower <= attribute < upper (either bound optional; `upper_inclusive` makes it <=, `lower_exclusive` >)."""

    attribute: str
    lower: Value | None = None
    upper: Value | None = None
    lower_exclusive: bool = False
    upper_inclusive: bool = False


@dataclass(frozen=True, slots=True)
class StartsWith:
    attribute: str
    prefix: str
    case_sensitive: bool


@dataclass(frozen=True, slots=True)
class IsEmpty:
    attribute: str
    empty: bool


Predicate = Equals | OneOf | Range | StartsWith | IsEmpty

MAX_TEXT = 2048
MAX_IN_VALUES = 1000
MAX_LAST_DAYS = 36500


def _parse_text(raw: Any) -> str:
    if isinstance(raw, bool) or not isinstance(raw, str | int):
        raise ValueError(f"must be a string, not {type(raw).__name__}")
    text = str(raw)
    if not text:
        raise ValueError("must not be empty")
    if len(text) > MAX_TEXT:
        raise ValueError(f"is longer than {MAX_TEXT} characters")
    return text


def _parse_enum(raw: Any, spec: FieldSpec) -> str:
    text = _parse_text(raw)
    if spec.values is None:
        return text
    if text.upper() not in spec.values:
        raise ValueError(f"{text!r} is not one of {', '.join(sorted(spec.values))}")
    return text.upper()


def _parse_number(raw: Any) -> Decimal:
    if isinstance(raw, bool) or not isinstance(raw, str | int | float):
        raise ValueError(f"{raw!r} is not a number")
    try:
        number = Decimal(str(raw))
    except InvalidOperation:
        raise ValueError(f"{raw!r} is not a number") from None
    if not number.is_finite():
        raise ValueError(f"{raw!r} is not a finite number")
    return number


def _parse_date(raw: Any) -> datetime | date:
    """An ISO date (a calendar day in the workspace's zone) or an ISO moment; Mambu's +0000 offsets work."""
    if not isinstance(raw, str):
        raise ValueError(f"{raw!r} is not a date; use ISO 8601, e.g. 2026-03-02 or 2026-03-02T09:00:00Z")
    try:
        return date.fromisoformat(raw) if len(raw) == 10 else datetime.fromisoformat(raw)
    except ValueError:
        raise ValueError(f"{raw!r} is not a date; use ISO 8601, e.g. 2026-03-02 or 2026-03-02T09:00:00Z") from None


def _parse_days(raw: Any) -> int:
    if isinstance(raw, str) and raw.strip().isdigit():
        raw = int(raw)
    if isinstance(raw, bool) or not isinstance(raw, int) or not 1 <= raw <= MAX_LAST_DAYS:
        raise ValueError(f"{raw!r} is not a number of days from 1 to {MAX_LAST_DAYS}")
    return raw


def parse_value(spec: FieldSpec, operator: Operator, raw: Any) -> Value:
    """One value for a field of `spec`'s type; ValueError says what is wrong with it."""
    if operator is Operator.LAST_DAYS:
        return _parse_days(raw)
    if spec.data_type is DataType.ENUM:
        return _parse_enum(raw, spec)
    if spec.data_type in _NUMERIC:
        return _parse_number(raw)
    if spec.data_type in _DATES:
        return _parse_date(raw)
    return _parse_text(raw)


def _check(index: int, raw: RawCondition) -> tuple[Condition | None, list[FilterProblem]]:
    spec = raw.field.spec
    try:
        operator = Operator(str(raw.operator).upper())
    except ValueError:
        known = ", ".join(o.value for o in Operator)
        return None, [FilterProblem(index, "operator", f"{raw.operator!r} is not an operator; use one of {known}")]
    arity, types = OPERATORS[operator]
    if spec.data_type not in types:
        allowed = ", ".join(o.value for o, (_, t) in OPERATORS.items() if spec.data_type in t)
        reason = (
            f"{operator.value} is not available for {raw.field.name} ({spec.data_type.value}); use one of {allowed}"
        )
        return None, [FilterProblem(index, "operator", reason)]
    given = {"value": raw.value, "secondValue": raw.second_value, "values": raw.values}
    wanted = {
        Arity.NO_VALUE: (),
        Arity.ONE_VALUE: ("value",),
        Arity.TWO_VALUES: ("value", "secondValue"),
        Arity.LIST: ("values",),
    }[arity]
    problems = [
        FilterProblem(index, part, f"is required by {operator.value}")
        for part in wanted
        if given[part] is None or given[part] == []
    ]
    problems += [
        FilterProblem(index, part, f"is not allowed with {operator.value}")
        for part, value in given.items()
        if part not in wanted and value is not None
    ]
    if problems:
        return None, problems
    raws: list[tuple[str, Any]] = [(part, given[part]) for part in wanted if part != "values"]
    if arity is Arity.LIST:
        if not isinstance(raw.values, list) or len(raw.values) > MAX_IN_VALUES:
            return None, [FilterProblem(index, "values", f"must be a list of 1 to {MAX_IN_VALUES} values")]
        raws = [(f"values[{i}]", v) for i, v in enumerate(raw.values)]
    values: list[Value] = []
    for part, value in raws:
        try:
            values.append(parse_value(spec, operator, value))
        except ValueError as error:
            problems.append(FilterProblem(index, part, str(error)))
    if not problems and operator is Operator.BETWEEN and _after(values[0], values[1]):
        problems.append(FilterProblem(index, "secondValue", "is before value"))
    return (None, problems) if problems else (Condition(raw.field, operator, tuple(values)), [])


def _after(first: Value, second: Value) -> bool:
    """Whether a BETWEEN's first bound lies after its second (days and moments compare by their day)."""
    if isinstance(first, datetime) != isinstance(second, datetime):
        first, second = _day(first), _day(second)
    elif (
        isinstance(first, datetime)
        and isinstance(second, datetime)
        and (first.tzinfo is None) != (second.tzinfo is None)
    ):
        return False  # one is read in the workspace's zone, unknown here; an inverted range just finds nothing
    return bool(first > second)  # type: ignore[operator]


def _day(value: Value) -> date:
    return value.date() if isinstance(value, datetime) else value  # type: ignore[return-value]


@dataclass(frozen=True, slots=True)
class Filter:
    """Conditions that must all hold."""

    conditions: tuple[Condition, ...] = ()
    sort: Sort = field(default_factory=Sort)

    def predicates(self, now: datetime, zone: tzinfo) -> list[Predicate]:
        return [predicate(condition, now, zone) for condition in self.conditions]


def build_filter(raws: Sequence[RawCondition], sort: Sort | None = None) -> Filter:
    """Check every condition; FilterError lists all problems found, not just the first."""
    conditions: list[Condition] = []
    problems: list[FilterProblem] = []
    for index, raw in enumerate(raws):
        condition, found = _check(index, raw)
        problems += found
        if condition is not None:
            conditions.append(condition)
    if problems:
        raise FilterError(problems)
    return Filter(tuple(conditions), sort or Sort())


# Dates: a calendar day is a range of moments in the workspace's zone.


def _start(day: date, zone: tzinfo) -> datetime:
    return datetime.combine(day, time(), zone)


def _moment(value: Value, zone: tzinfo) -> datetime:
    """A moment given without an offset is read in the workspace's zone."""
    assert isinstance(value, datetime)
    return value if value.tzinfo is not None else value.replace(tzinfo=zone)


def _days(first: date, last: date, zone: tzinfo) -> tuple[datetime, datetime]:
    """[start of `first`, start of the day after `last`)."""
    return _start(first, zone), _start(last + timedelta(days=1), zone)


def _period(operator: Operator, today: date, count: int = 1) -> tuple[date, date]:
    """The first and last calendar day of a relative period (weeks start on Monday, as ISO's)."""
    if operator is Operator.TODAY:
        return today, today
    if operator is Operator.THIS_WEEK:
        monday = today - timedelta(days=today.weekday())
        return monday, monday + timedelta(days=6)
    if operator is Operator.THIS_MONTH:
        first = today.replace(day=1)
        return first, (first + timedelta(days=32)).replace(day=1) - timedelta(days=1)
    if operator is Operator.THIS_YEAR:
        return today.replace(month=1, day=1), today.replace(month=12, day=31)
    # LAST_DAYS n: today and the n - 1 days before it.
    return today - timedelta(days=count - 1), today


def _date_predicate(condition: Condition, now: datetime, zone: tzinfo) -> Range:
    attribute, operator, values = condition.field.spec.attribute, condition.operator, condition.values
    if operator in (Operator.TODAY, Operator.THIS_WEEK, Operator.THIS_MONTH, Operator.THIS_YEAR, Operator.LAST_DAYS):
        count = int(values[0]) if values else 1  # type: ignore[arg-type]
        lower, upper = _days(*_period(operator, now.astimezone(zone).date(), count), zone)
        return Range(attribute, lower, upper)
    first = values[0]
    if operator is Operator.BETWEEN:
        second = values[1]
        lower = _moment(first, zone) if isinstance(first, datetime) else _start(_day(first), zone)
        if isinstance(second, datetime):
            return Range(attribute, lower, _moment(second, zone), upper_inclusive=True)
        return Range(attribute, lower, _days(_day(second), _day(second), zone)[1])
    if isinstance(first, datetime):
        moment = _moment(first, zone)
        return {
            Operator.ON: Range(attribute, *_days(moment.astimezone(zone).date(), moment.astimezone(zone).date(), zone)),
            Operator.AFTER: Range(attribute, lower=moment, lower_exclusive=True),
            Operator.BEFORE: Range(attribute, upper=moment),
            Operator.BEFORE_INCLUSIVE: Range(attribute, upper=moment, upper_inclusive=True),
        }[operator]
    start, end = _days(_day(first), _day(first), zone)
    return {
        Operator.ON: Range(attribute, start, end),
        Operator.AFTER: Range(attribute, lower=end),
        Operator.BEFORE: Range(attribute, upper=start),
        Operator.BEFORE_INCLUSIVE: Range(attribute, upper=end),
    }[operator]


def predicate(condition: Condition, now: datetime, zone: tzinfo) -> Predicate:
    """What one condition means at `now` in `zone`."""
    spec, operator, values = condition.field.spec, condition.operator, condition.values
    if operator in (Operator.EMPTY, Operator.NOT_EMPTY):
        return IsEmpty(spec.attribute, operator is Operator.EMPTY)
    if spec.data_type in _DATES:
        return _date_predicate(condition, now, zone)
    if operator is Operator.IN:
        return OneOf(spec.attribute, values)
    if operator in (Operator.STARTS_WITH, Operator.STARTS_WITH_CASE_SENSITIVE):
        return StartsWith(spec.attribute, str(values[0]), operator is Operator.STARTS_WITH_CASE_SENSITIVE)
    if operator is Operator.MORE_THAN:
        return Range(spec.attribute, lower=values[0], lower_exclusive=True)
    if operator is Operator.LESS_THAN:
        return Range(spec.attribute, upper=values[0])
    if operator is Operator.BETWEEN:
        return Range(spec.attribute, values[0], values[1], upper_inclusive=True)
    # EQUALS on free text ignores case, as Mambu's does; keys and enum values are exact.
    case_sensitive = operator is Operator.EQUALS_CASE_SENSITIVE or spec.data_type is not DataType.STRING
    return Equals(spec.attribute, values[0], case_sensitive)
