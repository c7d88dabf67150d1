"""Each listed tenant's runtime settings: one typed document, built at synth, chosen per request.

``infra/config.py`` resolves each listed tenant's retention (the deployment's periods with its
overrides) and its own intents and routing, where it has them, into ``CALLGUARD_TENANT_SETTINGS``.
Kept apart from :mod:`callguard.security.tenancy`, so the token trigger and the functions that act
for no tenant do not load pydantic for it.
"""

from __future__ import annotations

import base64
import json
import zlib
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, JsonValue

from callguard.names import Env
from callguard.security.tenancy import DEFAULT_TENANT, TENANT_ID_PATTERN, UnknownTenantError

__all__ = ["TenantRuntimeSettings", "TenantSettingsDocument"]

#: the document is deflated and base64-encoded behind this prefix: Lambda allows 4 KB of environment
#: per function, and each tenant's intents and routing are mostly the same words
_DEFLATED = "z1:"


class TenantRuntimeSettings(BaseModel):
    """What one listed tenant's functions do differently, as configured (``infra/config.py`` validates
    each section with its capability's model at synth; :mod:`callguard.wiring` parses it with the same
    models): the retention stamped on its data (days per data category, every category resolved), and
    its own intents and routing rules (``None``: the deployment's)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    retention: dict[str, Annotated[int, Field(ge=1, le=3650)]]
    intents: dict[str, JsonValue] | None = None
    routing: dict[str, JsonValue] | None = None


class TenantSettingsDocument(BaseModel):
    """``CALLGUARD_TENANT_SETTINGS``: listed tenant id → its runtime settings.

    Built at synth from ``cdk.json``, set only on the functions that act for a tenant (the API
    functions, the analysis, the privacy workflow's steps) and only when tenants are listed. The
    default tenant is never in it: it keeps v1's ``CALLGUARD_RETENTION`` / ``CALLGUARD_INTENTS`` /
    ``CALLGUARD_ROUTING``, so a single-tenant deployment's environment is v1's. It is configuration,
    not input: an entry is chosen by the tenant the work acts for (:func:`current_tenant`), which
    comes from the verified token, never from what a request carries.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    tenants: dict[Annotated[str, Field(pattern=TENANT_ID_PATTERN)], TenantRuntimeSettings] = Field(default_factory=dict)

    @classmethod
    def from_env(cls, value: str | None) -> TenantSettingsDocument:
        """The document of ``value`` (``None`` or empty: a deployment without listed tenants)."""
        if not value:
            return cls()
        if value.startswith(_DEFLATED):
            value = zlib.decompress(base64.b64decode(value.removeprefix(_DEFLATED), validate=True)).decode()
        document = cls.model_validate({"tenants": json.loads(value)})
        if DEFAULT_TENANT in document.tenants:
            raise ValueError(f"{Env.TENANT_SETTINGS.value} names the default tenant (its settings are v1's variables).")
        return document

    def to_json(self) -> str:
        data = {t: s.model_dump(mode="json", exclude_none=True) for t, s in sorted(self.tenants.items())}
        return json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False)

    def to_env(self) -> str:
        """The JSON document, deflated and base64-encoded (``z1:…``); :meth:`from_env` reads both forms."""
        return _DEFLATED + base64.b64encode(zlib.compress(self.to_json().encode(), 9)).decode("ascii")

    def settings_of(self, tenant: str) -> TenantRuntimeSettings:
        """A listed tenant's settings; :class:`UnknownTenantError` for any other tenant (the default
        tenant is not listed: its settings are v1's variables)."""
        found = self.tenants.get(tenant)
        if found is None:
            raise UnknownTenantError("The tenant is not one this deployment serves.")
        return found
