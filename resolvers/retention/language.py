"""The retention condition language: a tokenizer and a recursive-descent parser that compile to SQL predicates.

    condition := or
    or        := and ("or" and)*
    and       := unary ("and" unary)*
    unary     := "not" unary | "(" or ")" | test
    test      := "consent" [purpose | "any"] "is" ["not"] ("active" | "withdrawn" | "expired")
               | field ("=" | "!=") value
               | field ["not"] "in" "(" value ("," value)* ")"
               | field ("older" | "newer") "than" number unit      unit: day(s) week(s) month(s) year(s)
               | field ("before" | "after") YYYY-MM-DD
               | field "is" ["not"] "null"

Keywords and enum values are case-insensitive; field names are the GraphQL names of the entity (`stage`,
`createdAt`, ...). Example: `stage = COLD and lastActivityAt older than 730 days and not consent is active`.
Times compare with the `now` given to `compile`, so a dry run and the real run at the same `now` select the
same rows. A NULL time is neither older nor newer than anything.

Besides SQL, each parsed condition can `judge` a description of rows (`Facts`: some enum values known, some
times known to be younger than N days) in three-valued logic: False when the condition can match no such row,
True when it matches every one, None when it depends on what is not known. The minimum-retention guards
(`resolvers.retention.guards`) use it to tell whether a policy could reach records still under a guard.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, and_, exists, not_, or_, select, true

from authz.scopes import CONSENT_PURPOSES
from db.models import Activity, Consent, Contact

Compiler = Callable[[datetime], ColumnElement[bool]]
Verdict = bool | None
UNITS = {"day": 1, "days": 1, "week": 7, "weeks": 7, "month": 30, "months": 30, "year": 365, "years": 365}
STATES = ("active", "withdrawn", "expired")
MAX_LENGTH = 2000


class ConditionError(ValueError):
    def __init__(self, message: str, position: int) -> None:
        super().__init__(f"{message} (at character {position + 1})")
        self.position = position


@dataclass(frozen=True)
class Field:
    kind: str  # enum | bool | time
    column: Any
    values: tuple[str, ...] = ()


@dataclass(frozen=True)
class Entity:
    name: str
    fields: dict[str, Field]
    contact_id: Any  # the column naming the contact whose consents `consent ...` tests
    own_consent: bool = False  # `consent ...` on a consent row tests that row


ENTITIES: dict[str, Entity] = {
    "contact": Entity(
        "contact",
        {
            "stage": Field("enum", Contact.stage, ("LEAD", "PROSPECT", "CUSTOMER", "COLD")),
            "vip": Field("bool", Contact.vip),
            "createdAt": Field("time", Contact.created_at),
            "updatedAt": Field("time", Contact.updated_at),
            "lastActivityAt": Field("time", Contact.last_activity_at),
            "archivedAt": Field("time", Contact.archived_at),
        },
        Contact.id,
    ),
    "activity": Entity(
        "activity",
        {
            "kind": Field("enum", Activity.kind, ("EMAIL", "WHATSAPP", "CALL", "MEETING", "NOTE", "PURCHASE")),
            "private": Field("bool", Activity.private),
            "occurredAt": Field("time", Activity.occurred_at),
            "createdAt": Field("time", Activity.created_at),
        },
        Activity.contact_id,
    ),
    "consent": Entity(
        "consent",
        {
            "purpose": Field("enum", Consent.purpose, CONSENT_PURPOSES),
            "granted": Field("bool", Consent.granted),
            "grantedAt": Field("time", Consent.granted_at),
            "withdrawnAt": Field("time", Consent.withdrawn_at),
            "expiresAt": Field("time", Consent.expires_at),
        },
        Consent.contact_id,
        own_consent=True,
    ),
}


@dataclass(frozen=True)
class Facts:
    """What is known of the rows being judged: `values` (field -> enum value) and `younger_than` (time field ->
    days: the time is less than that many days before now, so never NULL)."""

    values: dict[str, str]
    younger_than: dict[str, int]


Judge = Callable[[Facts], Verdict]


def _unknown(_: Facts) -> Verdict:
    return None


class Condition:
    """A parsed condition: call it with `now` for the SQL predicate; `judge` reasons about rows without SQL."""

    def __init__(self, compile_: Compiler, judge: Judge = _unknown) -> None:
        self.compile = compile_
        self.judge = judge

    def __call__(self, now: datetime) -> ColumnElement[bool]:
        return self.compile(now)


def _all(verdicts: list[Verdict]) -> Verdict:
    if any(v is False for v in verdicts):
        return False
    return True if all(v is True for v in verdicts) else None


def _any(verdicts: list[Verdict]) -> Verdict:
    if any(v is True for v in verdicts):
        return True
    return False if all(v is False for v in verdicts) else None


def _not(verdict: Verdict) -> Verdict:
    return None if verdict is None else not verdict


# ---------------------------------------------------------------------------------------------- tokenizer


@dataclass(frozen=True)
class Token:
    kind: str  # word | number | date | op | end
    text: str
    position: int


_TOKEN = re.compile(
    r"(?P<space>\s+)|(?P<date>\d{4}-\d{2}-\d{2})|(?P<number>\d+)|(?P<word>[A-Za-z_][A-Za-z0-9_]*)"
    r"|(?P<op>!=|<>|=|\(|\)|,)"
)


def tokenize(text: str) -> list[Token]:
    tokens: list[Token] = []
    position = 0
    while position < len(text):
        match = _TOKEN.match(text, position)
        if match is None:
            raise ConditionError(f"unexpected character {text[position]!r}", position)
        kind = match.lastgroup or ""
        if kind != "space":
            tokens.append(Token(kind, match.group(), position))
        position = match.end()
    tokens.append(Token("end", "", len(text)))
    return tokens


# ---------------------------------------------------------------------------------------------- parser


class _Parser:
    def __init__(self, text: str, entity: Entity) -> None:
        self.tokens = tokenize(text)
        self.i = 0
        self.entity = entity

    @property
    def token(self) -> Token:
        return self.tokens[self.i]

    def _describe(self, token: Token) -> str:
        return "the end of the condition" if token.kind == "end" else repr(token.text)

    def fail(self, expected: str) -> ConditionError:
        return ConditionError(f"expected {expected}, found {self._describe(self.token)}", self.token.position)

    def keyword(self, *words: str) -> str | None:
        token = self.token
        if token.kind == "word" and token.text.lower() in words:
            self.i += 1
            return token.text.lower()
        return None

    def expect_keyword(self, *words: str) -> str:
        found = self.keyword(*words)
        if found is None:
            raise self.fail(" or ".join(repr(w) for w in words))
        return found

    def op(self, *ops: str) -> str | None:
        if self.token.kind == "op" and self.token.text in ops:
            self.i += 1
            return self.tokens[self.i - 1].text
        return None

    def parse(self) -> Condition:
        node = self.or_()
        if self.token.kind != "end":
            raise self.fail("'and', 'or' or the end of the condition")
        return node

    def or_(self) -> Condition:
        parts = [self.and_()]
        while self.keyword("or"):
            parts.append(self.and_())
        if len(parts) == 1:
            return parts[0]
        return Condition(lambda now: or_(*(p(now) for p in parts)), lambda f: _any([p.judge(f) for p in parts]))

    def and_(self) -> Condition:
        parts = [self.unary()]
        while self.keyword("and"):
            parts.append(self.unary())
        if len(parts) == 1:
            return parts[0]
        return Condition(lambda now: and_(*(p(now) for p in parts)), lambda f: _all([p.judge(f) for p in parts]))

    def unary(self) -> Condition:
        if self.keyword("not"):
            inner = self.unary()
            return Condition(lambda now: not_(inner(now)), lambda f: _not(inner.judge(f)))
        if self.op("("):
            inner = self.or_()
            if not self.op(")"):
                raise self.fail("')'")
            return inner
        if self.keyword("consent"):
            return self.consent()
        return self.test()

    def consent(self) -> Condition:
        purpose = self.keyword(*CONSENT_PURPOSES, "any") or "any"
        self.expect_keyword("is")
        negate = self.keyword("not") is not None
        state = self.expect_keyword(*STATES)
        entity = self.entity

        def compile_(now: datetime) -> ColumnElement[bool]:
            test = consent_state(entity, purpose, state, now)
            return not_(test) if negate else test

        return Condition(compile_)

    def field(self) -> tuple[str, Field]:
        token = self.token
        if token.kind != "word":
            raise self.fail("a field name")
        fields = self.entity.fields
        match = next((name for name in fields if name.lower() == token.text.lower()), None)
        if match is None:
            known = ", ".join(fields)
            raise ConditionError(
                f"unknown field {token.text!r} for {self.entity.name}; known fields: {known}, and 'consent ... is ...'",
                token.position,
            )
        self.i += 1
        return match, fields[match]

    def test(self) -> Condition:
        name, spec = self.field()
        column = spec.column
        if spec.kind == "time":
            return self.time_test(name, column)
        if self.keyword("is"):
            negate = self.keyword("not") is not None
            self.expect_keyword("null")
            return Condition(lambda now: column.is_not(None) if negate else column.is_(None))
        operator = self.op("=", "!=", "<>")
        if operator is not None:
            value = self.value(name, spec)
            equal = operator == "="
            return Condition(lambda now: column == value if equal else column != value,
                             lambda f: _among(f, name, [value], negate=not equal))
        negate = self.keyword("not") is not None
        if self.keyword("in"):
            values = self.values(name, spec)
            return Condition(lambda now: column.not_in(values) if negate else column.in_(values),
                             lambda f: _among(f, name, values, negate=negate))
        raise self.fail(f"'=', '!=', 'in' or 'is null' after {name!r}")

    def time_test(self, name: str, column: Any) -> Condition:
        word = self.expect_keyword("older", "newer", "before", "after", "is")
        if word == "is":
            negate = self.keyword("not") is not None
            self.expect_keyword("null")
            # A time known to be younger than something is not NULL.
            return Condition(lambda now: column.is_not(None) if negate else column.is_(None),
                             lambda f: negate if name in f.younger_than else None)
        if word in ("before", "after"):
            token = self.token
            if token.kind != "date":
                raise self.fail(f"a date (YYYY-MM-DD) after {word!r}")
            try:
                day = date.fromisoformat(token.text)
            except ValueError:
                raise ConditionError(f"{token.text!r} is not a valid date", token.position) from None
            self.i += 1
            at = datetime(day.year, day.month, day.day, tzinfo=UTC)
            return Condition((lambda now: column < at) if word == "before" else (lambda now: column >= at))
        self.expect_keyword("than")
        token = self.token
        if token.kind != "number":
            raise self.fail(f"a number after '{word} than'")
        self.i += 1
        unit = self.expect_keyword(*UNITS)
        days = int(token.text) * UNITS[unit]
        if days > 36_500:
            raise ConditionError("ages are at most 100 years", token.position)
        older = word == "older"

        def judge(f: Facts) -> Verdict:
            # Younger than `bound` days and `bound <= days`: never older than `days`, always newer.
            bound = f.younger_than.get(name)
            return None if bound is None or bound > days else not older

        if older:
            return Condition(lambda now: column < now - timedelta(days=days), judge)
        return Condition(lambda now: column >= now - timedelta(days=days), judge)

    def value(self, name: str, spec: Field) -> Any:
        token = self.token
        if spec.kind == "bool":
            found = self.keyword("true", "false")
            if found is None:
                raise self.fail(f"true or false for {name!r}")
            return found == "true"
        if token.kind != "word":
            raise self.fail(f"a value for {name!r} (one of {', '.join(spec.values)})")
        match = next((v for v in spec.values if v.lower() == token.text.lower()), None)
        if match is None:
            raise ConditionError(
                f"{token.text!r} is not a {name}; one of {', '.join(spec.values)}", token.position
            )
        self.i += 1
        return match

    def values(self, name: str, spec: Field) -> list[Any]:
        if not self.op("("):
            raise self.fail("'(' after 'in'")
        out = [self.value(name, spec)]
        while self.op(","):
            out.append(self.value(name, spec))
        if not self.op(")"):
            raise self.fail("',' or ')'")
        return out


def _among(facts: Facts, name: str, values: list[Any], *, negate: bool) -> Verdict:
    known = facts.values.get(name)
    if known is None:
        return None
    return (known in values) != negate


def consent_state(entity: Entity, purpose: str, state: str, now: datetime) -> ColumnElement[bool]:
    """`consent [purpose] is <state>`: on a consent row, that row; otherwise any consent of the contact."""
    conditions: list[ColumnElement[bool]] = []
    if purpose != "any":
        conditions.append(Consent.purpose == purpose)
    not_expired = or_(Consent.expires_at.is_(None), Consent.expires_at > now)
    if state == "active":
        conditions += [Consent.granted.is_(True), Consent.withdrawn_at.is_(None), not_expired]
    elif state == "withdrawn":
        conditions.append(Consent.withdrawn_at.is_not(None))
    else:
        conditions += [Consent.granted.is_(True), Consent.withdrawn_at.is_(None), Consent.expires_at <= now]
    if entity.own_consent:
        return and_(true(), *conditions)
    return exists(select(Consent.id).where(Consent.contact_id == entity.contact_id, *conditions))


def parse(text: str, entity: str) -> Condition:
    """Validate `text` for `entity` and return its condition (`now` -> predicate); ConditionError when invalid."""
    spec = ENTITIES.get(entity)
    if spec is None:
        raise ConditionError(f"unknown entity {entity!r}", 0)
    if len(text) > MAX_LENGTH:
        raise ConditionError(f"a condition is at most {MAX_LENGTH} characters", MAX_LENGTH)
    if not text.strip():
        raise ConditionError("a condition is needed, e.g. `stage = COLD and lastActivityAt older than 2 years`", 0)
    return _Parser(text, spec).parse()
