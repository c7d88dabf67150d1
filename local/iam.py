"""A small IAM policy evaluator: enough of AWS's authorization logic to prove, before a deployment,
that every call the product makes is allowed by the policies the template gives it.

What it evaluates, as AWS does: ``Effect`` Allow/Deny (an explicit deny wins), ``Action``/``NotAction``
with ``*``/``?`` wildcards (case-insensitive), ``Resource``/``NotResource`` with wildcards, ``Principal``/
``NotPrincipal`` (AWS ARNs, the account, services, ``*``), and ``Condition`` with the string, ARN, Bool,
Null and numeric operators, their ``IfExists`` forms and the ``ForAnyValue:``/``ForAllValues:`` set
qualifiers. Condition keys are case-insensitive; a key missing from the request fails a condition
(negated operators and ``IfExists`` excepted). An operator it does not know raises :class:`PolicyError`
instead of being ignored: a condition that is skipped would prove nothing.

What it does not model: policy variables (``${aws:username}``), date operators, SCPs, permission
boundaries, session policies, cross-account trust, and grants made through ``kms:CreateGrant``.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import Enum
from functools import lru_cache
from typing import Any

__all__ = [
    "Decision",
    "PolicyError",
    "Principal",
    "Request",
    "Verdict",
    "authorize",
    "authorize_kms",
    "evaluate",
    "statement_applies",
]


class PolicyError(ValueError):
    """The policy uses something this evaluator cannot evaluate faithfully."""


class Decision(Enum):
    ALLOW = "allow"
    EXPLICIT_DENY = "explicit deny"
    IMPLICIT_DENY = "implicit deny"


@dataclass(frozen=True)
class Principal:
    """Who acts: a role (``arn``), or an AWS service (``service``, e.g. ``cloudwatch.amazonaws.com``)."""

    arn: str = ""
    service: str = ""
    account: str = ""

    def __str__(self) -> str:
        return self.arn or f"service {self.service}"


@dataclass(frozen=True)
class Request:
    principal: Principal
    action: str
    resource: str
    context: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Verdict:
    decision: Decision
    statement: Mapping[str, Any] | None = None  # the deciding statement (the deny, or an allow)
    reason: str = ""

    @property
    def allowed(self) -> bool:
        return self.decision is Decision.ALLOW


def _as_list(value: Any) -> list[Any]:
    if value is None:
        return []
    return list(value) if isinstance(value, list | tuple) else [value]


@lru_cache(maxsize=4096)
def _pattern(text: str, ignore_case: bool) -> re.Pattern[str]:
    body = "".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in text)
    return re.compile(f"^{body}$", re.IGNORECASE | re.DOTALL if ignore_case else re.DOTALL)


def wildcard_match(pattern: str, value: str, *, ignore_case: bool = False) -> bool:
    return bool(_pattern(pattern, ignore_case).match(value))


def arn_like(pattern: str, value: str) -> bool:
    """``ArnLike``: the six colon-separated parts are matched one by one (wildcards stay inside a part)."""
    p_parts, v_parts = pattern.split(":", 5), value.split(":", 5)
    if len(p_parts) != 6 or len(v_parts) != 6:
        return False
    return all(wildcard_match(p, v) for p, v in zip(p_parts, v_parts, strict=True))


# -- conditions --------------------------------------------------------------------------------


def _string_equals(p: str, v: str) -> bool:
    return p == v


def _string_equals_ic(p: str, v: str) -> bool:
    return p.lower() == v.lower()


def _string_like(p: str, v: str) -> bool:
    return wildcard_match(p, v)


def _bool(p: str, v: str) -> bool:
    return str(p).lower() == str(v).lower()


def _numeric(op: str) -> Any:
    def compare(p: str, v: str) -> bool:
        try:
            a, b = float(v), float(p)
        except ValueError:
            return False
        return {
            "eq": a == b,
            "lt": a < b,
            "le": a <= b,
            "gt": a > b,
            "ge": a >= b,
        }[op]

    return compare


#: operator → (value matcher, negated)
_OPERATORS: dict[str, tuple[Any, bool]] = {
    "StringEquals": (_string_equals, False),
    "StringNotEquals": (_string_equals, True),
    "StringEqualsIgnoreCase": (_string_equals_ic, False),
    "StringNotEqualsIgnoreCase": (_string_equals_ic, True),
    "StringLike": (_string_like, False),
    "StringNotLike": (_string_like, True),
    "ArnEquals": (arn_like, False),  # AWS treats ArnEquals like ArnLike
    "ArnLike": (arn_like, False),
    "ArnNotEquals": (arn_like, True),
    "ArnNotLike": (arn_like, True),
    "Bool": (_bool, False),
    "NumericEquals": (_numeric("eq"), False),
    "NumericNotEquals": (_numeric("eq"), True),
    "NumericLessThan": (_numeric("lt"), False),
    "NumericLessThanEquals": (_numeric("le"), False),
    "NumericGreaterThan": (_numeric("gt"), False),
    "NumericGreaterThanEquals": (_numeric("ge"), False),
}


def _context_value(context: Mapping[str, Any], key: str) -> Any:
    lowered = key.lower()
    for name, value in context.items():
        if name.lower() == lowered:
            return value
    return None


def _condition_holds(operator: str, key: str, expected: Any, context: Mapping[str, Any]) -> bool:
    qualifier = ""
    if ":" in operator and operator.split(":", 1)[0] in {"ForAnyValue", "ForAllValues"}:
        qualifier, operator = operator.split(":", 1)
    if_exists = operator.endswith("IfExists")
    base = operator.removesuffix("IfExists")
    value = _context_value(context, key)
    wanted = [str(v) for v in _as_list(expected)]
    if base == "Null":
        absent = value is None or value == []
        return all((w.lower() == "true") == absent for w in wanted)
    if base not in _OPERATORS:
        raise PolicyError(f"condition operator {operator!r} is not supported by the evaluator")
    match, negated = _OPERATORS[base]
    if value is None or value == []:
        if qualifier == "ForAllValues":
            return True
        if qualifier == "ForAnyValue":
            return False
        return if_exists or negated
    values = [str(v).lower() if isinstance(v, bool) else str(v) for v in _as_list(value)]

    def one(v: str) -> bool:
        hit = any(match(w, v) for w in wanted)
        return not hit if negated else hit

    if qualifier == "ForAllValues":
        return all(one(v) for v in values)
    return any(one(v) for v in values)  # ForAnyValue, and a single-valued key


def conditions_hold(condition: Mapping[str, Any] | None, context: Mapping[str, Any]) -> bool:
    for operator, pairs in (condition or {}).items():
        for key, expected in pairs.items():
            if not _condition_holds(operator, key, expected, context):
                return False
    return True


# -- statements --------------------------------------------------------------------------------


def _action_matches(statement: Mapping[str, Any], action: str) -> bool:
    if "NotAction" in statement:
        return not any(wildcard_match(a, action, ignore_case=True) for a in _as_list(statement["NotAction"]))
    return any(wildcard_match(a, action, ignore_case=True) for a in _as_list(statement.get("Action")))


def _resource_matches(statement: Mapping[str, Any], resource: str) -> bool:
    if "NotResource" in statement:
        return not any(wildcard_match(r, resource) for r in _as_list(statement["NotResource"]))
    if "Resource" not in statement:
        return True  # trust policies name no resource
    return any(wildcard_match(r, resource) for r in _as_list(statement["Resource"]))


def _principal_matches(principal_element: Any, who: Principal) -> str:
    """``"direct"`` (names ``who``), ``"account"`` (names ``who``'s account: delegation to IAM), or ``""``."""
    if principal_element == "*":
        return "direct"
    found = ""
    for kind, values in (principal_element or {}).items():
        for value in _as_list(values):
            value = str(value)
            if kind == "Service" and who.service and value == who.service:
                return "direct"
            if kind == "AWS":
                if value == "*":
                    return "direct"
                if who.arn and value == who.arn:
                    return "direct"
                if who.account and value in {who.account, f"arn:aws:iam::{who.account}:root"}:
                    found = "account"
    return found


def statement_applies(statement: Mapping[str, Any], request: Request, *, principal: str | None = None) -> bool:
    """Action, resource and conditions match (and the principal, when ``principal`` says how)."""
    if principal is not None:
        if "NotPrincipal" in statement:
            if _principal_matches(statement["NotPrincipal"], request.principal):
                return False
        elif _principal_matches(statement.get("Principal"), request.principal) != principal:
            return False
    return (
        _action_matches(statement, request.action)
        and _resource_matches(statement, request.resource)
        and conditions_hold(statement.get("Condition"), request.context)
    )


def _statements(policy: Mapping[str, Any] | Sequence[Mapping[str, Any]] | None) -> list[Mapping[str, Any]]:
    if policy is None:
        return []
    if isinstance(policy, Mapping):
        return [s for s in _as_list(policy.get("Statement"))]
    return list(policy)


def evaluate(statements: Iterable[Mapping[str, Any]], request: Request, *, principal: str | None = None) -> Verdict:
    """One policy (or several of one kind): explicit deny > allow > implicit deny."""
    allow: Mapping[str, Any] | None = None
    for statement in statements:
        if statement.get("Effect") == "Deny":
            # a deny names its principal too; "direct" or "account" both apply to ``request.principal``
            if principal is None:
                applies = statement_applies(statement, request)
            else:
                applies = any(statement_applies(statement, request, principal=p) for p in ("direct", "account"))
            if applies:
                return Verdict(Decision.EXPLICIT_DENY, statement)
        elif allow is None and statement_applies(statement, request, principal=principal):
            allow = statement
    if allow is not None:
        return Verdict(Decision.ALLOW, allow)
    return Verdict(Decision.IMPLICIT_DENY)


def authorize(
    request: Request,
    *,
    identity: Iterable[Mapping[str, Any]] = (),
    resource: Mapping[str, Any] | Sequence[Mapping[str, Any]] | None = None,
) -> Verdict:
    """Same-account access: allowed by the identity policies or by the resource policy (naming the
    principal itself), and denied by neither. A service principal has no identity policies."""
    identity = list(identity)
    resource_statements = _statements(resource)
    for verdict in (evaluate(identity, request), evaluate(resource_statements, request, principal="direct")):
        if verdict.decision is Decision.EXPLICIT_DENY:
            return verdict
    by_identity = evaluate(identity, request) if request.principal.arn else Verdict(Decision.IMPLICIT_DENY)
    if by_identity.allowed:
        return by_identity
    by_resource = evaluate(resource_statements, request, principal="direct")
    if by_resource.allowed:
        return by_resource
    # a resource policy naming the account delegates to IAM: that is the identity check above
    return Verdict(Decision.IMPLICIT_DENY, reason="no statement allows it")


def authorize_kms(
    request: Request, *, key_policy: Mapping[str, Any], identity: Iterable[Mapping[str, Any]] = ()
) -> Verdict:
    """KMS: the key policy must allow the principal itself, or allow the account (then IAM policies
    decide). A deny in either wins. Service principals need the key policy to name them."""
    identity = list(identity)
    statements = _statements(key_policy)
    denied = evaluate(statements, request, principal="direct")
    if denied.decision is Decision.EXPLICIT_DENY:
        return denied
    if request.principal.arn:
        by_identity = evaluate(identity, request)
        if by_identity.decision is Decision.EXPLICIT_DENY:
            return by_identity
    direct = evaluate(statements, request, principal="direct")
    if direct.allowed:
        return direct
    if request.principal.arn:
        delegated = evaluate(statements, request, principal="account")
        if delegated.allowed:
            by_identity = evaluate(identity, request)
            if by_identity.allowed:
                return by_identity
            return Verdict(
                Decision.IMPLICIT_DENY, reason="the key policy delegates to IAM, and no IAM statement allows it"
            )
        return Verdict(Decision.IMPLICIT_DENY, reason="the key policy neither names the principal nor delegates to IAM")
    return Verdict(Decision.IMPLICIT_DENY, reason="the key policy does not name the service")
