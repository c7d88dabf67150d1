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

        return ContactFacts(
            phone=attributes.get(n.phone) or caller_id,
            customer_id=attributes.get(n.customer_id) or None,
            email=attributes.get(n.email) or None,
            agent_id=(contact.get("AgentInfo") or {}).get("Id"),
            started_at=contact.get("InitiationTimestamp"),
            ended_at=contact.get("DisconnectTimestamp"),
            recording=given(n.consent_recording),
            ai_analysis=given(n.consent_ai_analysis),
            ai_disclosure_given=given(n.ai_disclosure_given),
        )
