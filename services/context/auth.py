"""Who is calling and what their role lets them do.

Callers present ``authorization: Bearer <token>`` or a client certificate (mTLS). Roles
are least-privilege (PIPL): only supervisors ever see unmasked identifiers, auditors read
masked context and KPIs but never act on handoffs, channel systems and agents serve customers.
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass
from enum import StrEnum

import grpc

from backbone.errors import ConfigurationError
from backbone.settings import Settings
from services.context.status import RpcFailure


class Role(StrEnum):
    CHANNEL_SYSTEM = "channel_system"
    AGENT = "agent"
    SUPERVISOR = "supervisor"
    AUDITOR = "auditor"


SERVE = frozenset({Role.CHANNEL_SYSTEM, Role.AGENT, Role.SUPERVISOR})
# Which roles may call which method (short RPC name).
ALLOWED: dict[str, frozenset[Role]] = {
    "GetCustomerContext": SERVE | {Role.AUDITOR},
    "WatchCustomerContext": SERVE,
    "CreateHandoff": SERVE,
    "AcceptHandoff": SERVE,
    "CancelHandoff": SERVE,
    # Queue and channel aggregates (no customer data): agents see their queue's KPIs on
    # the desktop; channel systems have no use for them.
    "GetLiveKpis": frozenset({Role.AGENT, Role.SUPERVISOR, Role.AUDITOR}),
    "GetKpiIntervals": frozenset({Role.AGENT, Role.SUPERVISOR, Role.AUDITOR}),
    # Complaints (complaint_rpcs.py): agents and supervisors work them, auditors review
    # the lists; extending and reopening is for supervisors (checked per action).
    "ListComplaints": frozenset({Role.AGENT, Role.SUPERVISOR, Role.AUDITOR}),
    "UpdateComplaint": frozenset({Role.AGENT, Role.SUPERVISOR}),
    "WatchAlerts": frozenset({Role.SUPERVISOR, Role.AUDITOR}),
}
UNMASK_ROLES = frozenset({Role.SUPERVISOR})
# The highest JR/T 0197 data level of profile attributes each role may read (values above
# it are withheld; backbone/data_levels.py): channel systems route on tier and consent,
# agents also see the vulnerable-customer flag and masked account numbers, auditors review
# access and consent, not customers' sensitive information.
CLEARANCE: dict[Role, int] = {Role.CHANNEL_SYSTEM: 2, Role.AGENT: 3, Role.SUPERVISOR: 4,
                              Role.AUDITOR: 2}


@dataclass(frozen=True, slots=True)
class Principal:
    name: str
    role: Role
    via: str  # "token" or "certificate"

    def may_unmask(self) -> bool:
        return self.role in UNMASK_ROLES

    @property
    def clearance(self) -> int:
        return CLEARANCE.get(self.role, 1)


def _digest(token: str) -> bytes:
    return hashlib.sha256(token.encode()).digest()


class Authenticator:
    """Resolves a call's principal from its metadata or its client certificate."""

    def __init__(self, settings: Settings):
        self._tokens: list[tuple[bytes, Principal]] = []
        try:
            for spec, secret in settings.grpc_tokens.items():
                name, _, role = spec.partition("|")
                self._tokens.append((_digest(secret.get_secret_value()),
                                     Principal(name, Role(role), "token")))
            self._cert_roles = {cn: Role(role) for cn, role in settings.grpc_cert_roles.items()}
        except ValueError as exc:
            raise ConfigurationError(
                f"grpc_tokens / grpc_cert_roles: {exc}; roles are "
                f"{', '.join(r.value for r in Role)} and token keys 'principal|role'") from exc
        if len({digest for digest, _ in self._tokens}) != len(self._tokens):
            raise ConfigurationError("grpc_tokens: two principals share one token")

    def principal(self, context: grpc.aio.ServicerContext) -> Principal:
        metadata = context.invocation_metadata() or ()
        header = next((str(v) for k, v in metadata if k == "authorization"), None)
        if header is not None:
            scheme, _, token = header.partition(" ")
            if scheme.lower() != "bearer" or not token:
                raise RpcFailure(grpc.StatusCode.UNAUTHENTICATED,
                                 "authorization metadata must be 'Bearer <token>'",
                                 reason="BAD_AUTHORIZATION_HEADER")
            principal = self._match(_digest(token.strip()))
            if principal is not None:
                return principal
            raise RpcFailure(grpc.StatusCode.UNAUTHENTICATED, "unknown bearer token",
                             reason="UNKNOWN_TOKEN")
        auth = context.auth_context() or {}
        for cn_bytes in auth.get("x509_common_name", ()):
            cn = cn_bytes.decode()
            role = self._cert_roles.get(cn)
            if role is not None:
                return Principal(cn, role, "certificate")
            raise RpcFailure(grpc.StatusCode.PERMISSION_DENIED,
                             f"client certificate {cn!r} has no role", reason="NO_ROLE")
        raise RpcFailure(grpc.StatusCode.UNAUTHENTICATED,
                         "send 'authorization: Bearer <token>' or a client certificate",
                         reason="NO_CREDENTIALS")

    def _match(self, digest: bytes) -> Principal | None:
        """Constant time over all tokens: every configured digest is compared, equal-length
        and with hmac.compare_digest, and the loop never exits early, so timing tells
        neither whether nor which token matched."""
        found = None
        for candidate, principal in self._tokens:
            if hmac.compare_digest(candidate, digest):
                found = principal
        return found

    def authorize(self, context: grpc.aio.ServicerContext, method: str) -> Principal:
        principal = self.principal(context)
        if principal.role not in ALLOWED[method]:
            raise RpcFailure(grpc.StatusCode.PERMISSION_DENIED,
                             f"role {principal.role} may not call {method}",
                             reason="ROLE_NOT_ALLOWED",
                             metadata={"role": principal.role, "method": method})
        return principal
