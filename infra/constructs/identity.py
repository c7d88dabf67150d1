"""Cognito: who may call the API, with which scopes.

* Machine clients (contact-center platforms) use the client-credentials grant and get
  ``calls:write`` and ``routing:decide``.
* People (agents, compliance officers) sign in with MFA required (TOTP) through the
  authorization-code grant with PKCE; a pre-token-generation trigger keeps only the
  scopes their Cognito group allows, so an agent's token never carries
  ``privacy:manage``.
* Threat protection (formerly "advanced security") in full-function mode.
* Tenants (README "Tenants"): the default tenant is v1's platform client and groups,
  unchanged; every listed tenant gets its own platform client (its own secret and
  scopes) and its own groups ``<tenant>:<group>``. People's tenant reaches their token
  through the trigger; machine clients' tenant through :attr:`Identity.tenant_directory`
  (client id → tenant), which the API functions read.
"""

from __future__ import annotations

import json

from aws_cdk import Aws, Duration, RemovalPolicy, Stack
from aws_cdk import aws_cognito as cognito
from constructs import Construct

from callguard.names import RESOURCE_SERVER_ID, Env, Scope
from infra.config import PLATFORM_SCOPES, Settings, Tenant
from infra.constructs.function import CallguardFunction, SharedLayers
from infra.constructs.keys import ProjectKeys
from infra.nag import acknowledge

__all__ = ["PLATFORM_SCOPES", "Identity"]


class Identity(Construct):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        settings: Settings,
        layers: SharedLayers,
        keys: ProjectKeys,
        removal: RemovalPolicy,
    ) -> None:
        super().__init__(scope, construct_id)
        ident = settings.identity
        self.user_pool = cognito.UserPool(
            self,
            "UserPool",
            self_sign_up_enabled=False,
            sign_in_aliases=cognito.SignInAliases(email=True, username=False),
            mfa=cognito.Mfa.REQUIRED,
            mfa_second_factor=cognito.MfaSecondFactor(otp=True, sms=False),
            password_policy=cognito.PasswordPolicy(
                min_length=14,
                require_digits=True,
                require_lowercase=True,
                require_uppercase=True,
                require_symbols=True,
                temp_password_validity=Duration.days(3),
            ),
            account_recovery=cognito.AccountRecovery.EMAIL_ONLY,
            feature_plan=cognito.FeaturePlan.PLUS,
            standard_threat_protection_mode=cognito.StandardThreatProtectionMode.FULL_FUNCTION,
            deletion_protection=removal == RemovalPolicy.RETAIN,  # removal=destroy must be able to tear down
            removal_policy=removal,
        )
        self.resource_server = self.user_pool.add_resource_server(
            "Api",
            identifier=RESOURCE_SERVER_ID,
            scopes=[cognito.ResourceServerScope(scope_name=s.value, scope_description=s.description) for s in Scope],
        )
        self.oauth_scopes = {
            s: cognito.OAuthScope.resource_server(
                self.resource_server, cognito.ResourceServerScope(scope_name=s.value, scope_description=s.description)
            )
            for s in Scope
        }
        self.domain = self.user_pool.add_domain(
            "Domain",
            cognito_domain=cognito.CognitoDomainOptions(
                domain_prefix=ident.domain_prefix or f"callguard-{Aws.ACCOUNT_ID}"
            ),
        )
        token_validity = Duration.minutes(ident.access_token_minutes)
        #: people's redirect URLs from the config (the console adds its own: compliance_console.py)
        self.callback_urls = tuple(ident.callback_urls)
        self.tenants = settings.tenant_list()
        #: the platform (machine) client of each tenant; ``default``'s is v1's ``PlatformClient``
        self.platform_clients: dict[str, cognito.UserPoolClient] = {}
        for tenant in self.tenants:
            self.platform_clients[tenant.id] = self._platform_client(tenant, token_validity)
        self.platform_client = self.platform_clients[self.tenants[0].id]
        self.people_client = self.user_pool.add_client(
            "PeopleClient",
            generate_secret=False,
            auth_flows=cognito.AuthFlow(user_srp=True),
            o_auth=cognito.OAuthSettings(
                flows=cognito.OAuthFlows(authorization_code_grant=True),
                scopes=[cognito.OAuthScope.OPENID, cognito.OAuthScope.EMAIL]
                + [self.oauth_scopes[s] for s in (Scope.CALLS_READ, Scope.PRIVACY_MANAGE)],
                callback_urls=list(ident.callback_urls),
            ),
            access_token_validity=token_validity,
            id_token_validity=token_validity,
            refresh_token_validity=Duration.hours(8),
            prevent_user_existence_errors=True,
        )
        group_scopes = {group: scopes for tenant in self.tenants for group, scopes in tenant.group_scopes.items()}
        for tenant in self.tenants:
            home = self if tenant.is_default else self.tenant_scope(tenant)
            for group, role in zip(tenant.group_scopes, ident.group_scopes, strict=True):
                cognito.CfnUserPoolGroup(
                    home, f"Group{role.title()}", user_pool_id=self.user_pool.user_pool_id, group_name=group
                )
        self.pre_token = CallguardFunction(
            self,
            "PreToken",
            name="pre_token",
            layers=layers,
            log_key=keys.audit,
            log_retention_days=settings.log_retention_days,
            environment={
                Env.GROUP_SCOPES.value: json.dumps(
                    {g: [f"{RESOURCE_SERVER_ID}/{s.value}" for s in scopes] for g, scopes in group_scopes.items()}
                )
            },
            memory_mb=256,
            timeout_seconds=5,
            removal=removal,
        )
        # V2_0 runs for people's sign-ins only, never for client-credentials (machine) tokens: those carry
        # exactly the scopes of the app client (docs/deploy.md#tokens); V3_0 would run for both, at a price.
        self.user_pool.add_trigger(
            cognito.UserPoolOperation.PRE_TOKEN_GENERATION_CONFIG,
            self.pre_token.function,
            cognito.LambdaVersion.V2_0,
        )
        acknowledge(
            self.user_pool,
            "Threat protection runs in full-function (enforced) mode through the PLUS feature plan, which "
            "replaces the legacy AdvancedSecurityMode property the rule inspects.",
            "AwsSolutions-COG3",
        )

    def tenant_scope(self, tenant: Tenant) -> Construct:
        """The construct under which a listed tenant's identity resources live (its own logical ids)."""
        found = self.node.try_find_child(f"Tenant-{tenant.id}")
        return found if isinstance(found, Construct) else Construct(self, f"Tenant-{tenant.id}")

    def _platform_client(self, tenant: Tenant, token_validity: Duration) -> cognito.UserPoolClient:
        # the default tenant's client is v1's (``user_pool.add_client``: the same construct path)
        home = self.user_pool if tenant.is_default else self.tenant_scope(tenant)
        return cognito.UserPoolClient(
            home,
            "PlatformClient",
            user_pool=self.user_pool,
            generate_secret=True,
            auth_flows=cognito.AuthFlow(),
            o_auth=cognito.OAuthSettings(
                flows=cognito.OAuthFlows(client_credentials=True),
                scopes=[self.oauth_scopes[s] for s in tenant.platform_scopes],
            ),
            access_token_validity=token_validity,
            prevent_user_existence_errors=True,
        )

    @property
    def tenant_directory(self) -> str | None:
        """``CALLGUARD_TENANTS`` for the API functions: the tenants and each platform client's tenant
        (``None`` without a tenant list: v1's single tenant, and no new variable in the template)."""
        if len(self.tenants) == 1:
            return None
        return Stack.of(self).to_json_string(
            {
                "tenants": [t.id for t in self.tenants],
                "clients": [
                    {"client_id": client.user_pool_client_id, "tenant": tenant}
                    for tenant, client in self.platform_clients.items()
                ],
            }
        )
