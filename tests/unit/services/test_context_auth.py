"""Bearer tokens and client certificates to principals and roles (no broker)."""

from __future__ import annotations

from typing import Any

import grpc
import pytest

from backbone.settings import Settings
from services.context.auth import Authenticator, Role
from services.context.status import RpcFailure


class _Ctx:
    def __init__(self, metadata: tuple[tuple[str, str], ...] = (),
                 auth: dict[str, list[bytes]] | None = None):
        self._metadata = metadata
        self._auth = auth or {}

    def invocation_metadata(self) -> Any:
        return self._metadata

    def auth_context(self) -> Any:
        return self._auth


def test_default_local_tokens_map_to_roles(unit_settings: Settings) -> None:
    auth = Authenticator(unit_settings)
    who = auth.principal(_Ctx((("authorization", "Bearer dev-supervisor-token"),)))  # type: ignore[arg-type]
    assert (who.name, who.role, who.may_unmask()) == ("supervisor-dev", Role.SUPERVISOR, True)


def test_certificate_common_name_maps_to_a_role(unit_settings: Settings) -> None:
    settings = unit_settings.model_copy(update={"grpc_cert_roles": {"cti-01": "channel_system"}})
    auth = Authenticator(settings)
    who = auth.principal(_Ctx(auth={"x509_common_name": [b"cti-01"]}))  # type: ignore[arg-type]
    assert who.role == Role.CHANNEL_SYSTEM and who.via == "certificate"
    with pytest.raises(RpcFailure) as err:
        auth.principal(_Ctx(auth={"x509_common_name": [b"stranger"]}))  # type: ignore[arg-type]
    assert err.value.grpc_code == grpc.StatusCode.PERMISSION_DENIED


def test_roles_per_method(unit_settings: Settings) -> None:
    auth = Authenticator(unit_settings)
    auditor = _Ctx((("authorization", "Bearer dev-auditor-token"),))
    assert auth.authorize(auditor, "GetLiveKpis").role == Role.AUDITOR  # type: ignore[arg-type]
    for method in ("CreateHandoff", "AcceptHandoff", "WatchCustomerContext"):
        with pytest.raises(RpcFailure) as err:
            auth.authorize(auditor, method)  # type: ignore[arg-type]
        assert err.value.grpc_code == grpc.StatusCode.PERMISSION_DENIED
    with pytest.raises(RpcFailure) as err:
        auth.principal(_Ctx((("authorization", "Basic abc"),)))  # type: ignore[arg-type]
    assert err.value.grpc_code == grpc.StatusCode.UNAUTHENTICATED
