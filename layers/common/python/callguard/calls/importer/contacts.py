"""The caller's identifiers and consent, from the Connect contact (DescribeContact and
GetContactAttributes), read through an injected ``connect`` client."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from botocore.exceptions import ClientError

from .settings import AttributeNames

__all__ = ["ContactDirectory", "ContactFacts"]

_YES = frozenset({"true", "yes", "1"})
_METHODS = frozenset({"ivr_pin", "app_login", "agent_kba", "sso"})


@dataclass(frozen=True)
class ContactFacts:
    phone: str | None
    customer_id: str | None
    email: str | None
    agent_id: str | None
    started_at: datetime | None
    ended_at: datetime | None
    recording: bool
    ai_analysis: bool
    ai_disclosure_given: bool
    #: ``caller.verification`` as the contact flow recorded it (``None``: nothing authenticated)
    verification: dict[str, Any] | None = None


@dataclass
class ContactDirectory:
    connect: Any
    names: AttributeNames

    def lookup(self, instance_id: str, contact_id: str) -> ContactFacts | None:
        """The contact's facts, ``None`` when Connect does not know the contact."""
        try:
            contact = self.connect.describe_contact(InstanceId=instance_id, ContactId=contact_id)["Contact"]
            initial = contact.get("InitialContactId") or contact_id
            attributes: dict[str, str] = self.connect.get_contact_attributes(
                InstanceId=instance_id, InitialContactId=initial
            ).get("Attributes", {})
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in {"ResourceNotFoundException", "InvalidParameterException"}:
                return None
            raise  # throttling and outages: the delivery is retried
        endpoint = contact.get("CustomerEndpoint") or {}
        caller_id = endpoint.get("Address") if endpoint.get("Type") == "TELEPHONE_NUMBER" else None
        n = self.names

        def given(name: str) -> bool:
            return str(attributes.get(name, "")).strip().lower() in _YES

        identifiers = {
            "phone": attributes.get(n.phone) or caller_id,
            "customer_id": attributes.get(n.customer_id) or None,
            "email": attributes.get(n.email) or None,
        }
        return ContactFacts(
            phone=identifiers["phone"],
            customer_id=identifiers["customer_id"],
            email=identifiers["email"],
            verification=_verification(attributes, n, identifiers),
            agent_id=(contact.get("AgentInfo") or {}).get("Id"),
            started_at=contact.get("InitiationTimestamp"),
            ended_at=contact.get("DisconnectTimestamp"),
            recording=given(n.consent_recording),
            ai_analysis=given(n.consent_ai_analysis),
            ai_disclosure_given=given(n.ai_disclosure_given),
        )


def _verification(
    attributes: dict[str, str], n: AttributeNames, identifiers: dict[str, str | None]
) -> dict[str, Any] | None:
    """The identifiers the flow authenticated, and how. The caller ID of DescribeContact is never
    authenticated (anyone can show any number) unless the flow also set the phone attribute; a
    method callguard does not know, or a kind the contact does not carry, authenticates nothing."""
    method = str(attributes.get(n.verification_method, "")).strip().lower()
    kinds = [k.strip() for k in str(attributes.get(n.verified_identifiers, "")).split(",") if k.strip()]
    verified = [k for k in dict.fromkeys(kinds) if identifiers.get(k)]
    if "phone" in verified and not attributes.get(n.phone):
        verified.remove("phone")  # only the caller ID: never proof of who is calling
    if method not in _METHODS or not verified:
        return None
    return {"identifiers": verified, "method": method}
