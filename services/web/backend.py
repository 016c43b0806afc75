"""The context-service client of the web server: every call carries the browser user's
bearer token as gRPC metadata, exactly as any other gRPC client sends it.

The web server holds no credential of its own, so roles, masking and the audit trail stay
where they are enforced: in the context service. gRPC failures become :class:`UpstreamError`
with an HTTP status and the server's ``ErrorInfo`` reason and ``RetryInfo`` delay.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import grpc
from google.rpc import error_details_pb2
from grpc_status import rpc_status

from backbone.context.v1 import context_pb2_grpc as pb_grpc
from backbone.errors import BackboneError
from backbone.settings import Settings

# What a bearer token may look like (gRPC metadata is printable ASCII, no spaces).
TOKEN = re.compile(r"^[\x21-\x7e]{1,4096}$")
HTTP_STATUS: dict[grpc.StatusCode, int] = {
    grpc.StatusCode.INVALID_ARGUMENT: 400, grpc.StatusCode.UNAUTHENTICATED: 401,
    grpc.StatusCode.PERMISSION_DENIED: 403, grpc.StatusCode.NOT_FOUND: 404,
    grpc.StatusCode.FAILED_PRECONDITION: 409, grpc.StatusCode.ALREADY_EXISTS: 409,
    grpc.StatusCode.RESOURCE_EXHAUSTED: 429, grpc.StatusCode.UNAVAILABLE: 503,
    grpc.StatusCode.DEADLINE_EXCEEDED: 504,
}


class UpstreamError(BackboneError):
    """A call the context service refused or could not answer, as the browser sees it."""

    def __init__(self, status: int, code: str, message: str, *, reason: str = "",
                 retry_after_s: float | None = None):
        super().__init__(message, code=code)
        self.status = status
        self.reason = reason
        self.retry_after_s = retry_after_s
        self.retriable = status in (429, 503, 504)

    def to_json(self) -> dict[str, Any]:
        body: dict[str, Any] = {"code": self.code, "reason": self.reason, "message": self.message}
        if self.retry_after_s is not None:
            body["retry_after_s"] = self.retry_after_s
        return {"error": body}

    @classmethod
    def from_rpc(cls, err: grpc.aio.AioRpcError) -> UpstreamError:
        reason, delay = "", None
        status = rpc_status.from_call(err)
        for detail in status.details if status is not None else ():
            info, retry = error_details_pb2.ErrorInfo(), error_details_pb2.RetryInfo()
            if detail.Unpack(info):
                reason = info.reason
            elif detail.Unpack(retry):
                delay = retry.retry_delay.ToMilliseconds() / 1000
        code = err.code()
        return cls(HTTP_STATUS.get(code, 502), code.name, err.details() or code.name,
                   reason=reason, retry_after_s=delay)


def bearer(header: str | None) -> str:
    """The token of an ``Authorization: Bearer <token>`` header, or UpstreamError 401."""
    scheme, _, token = (header or "").partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not TOKEN.match(token):
        raise UpstreamError(401, "UNAUTHENTICATED", "sign in: send 'Authorization: Bearer <token>'",
                            reason="NO_CREDENTIALS")
    return token


class ContextClient:
    """One gRPC channel to the context service, shared by every browser session."""

    def __init__(self, settings: Settings, target: str | None = None):
        self.target = target or settings.web_grpc_target or \
            f"{settings.grpc_host}:{settings.grpc_port}"
        self._ca_file = settings.web_grpc_tls_ca_file
        self._channel: grpc.aio.Channel | None = None
        self._stub: Any = None

    async def start(self) -> None:
        if self._ca_file:
            pem = await asyncio.to_thread(Path(self._ca_file).read_bytes)
            creds = grpc.ssl_channel_credentials(pem)
            self._channel = grpc.aio.secure_channel(self.target, creds)
        else:
            self._channel = grpc.aio.insecure_channel(self.target)
        self._stub = pb_grpc.CustomerContextServiceStub(self._channel)

    async def stop(self) -> None:
        if self._channel is not None:
            await self._channel.close(grace=1.0)
            self._channel = None

    async def call(self, method: str, request: Any, token: str, timeout_s: float = 10.0) -> Any:
        """A unary RPC by name (``GetCustomerContext``, ...) with the user's token."""
        try:
            return await getattr(self._stub, method)(
                request, metadata=(("authorization", f"Bearer {token}"),), timeout=timeout_s)
        except grpc.aio.AioRpcError as err:
            raise UpstreamError.from_rpc(err) from err

    async def stream(self, method: str, request: Any, token: str) -> AsyncIterator[Any]:
        """A server-streaming RPC by name (``WatchCustomerContext``, ``WatchAlerts``) until
        the stream ends; the call is cancelled when the caller stops iterating."""
        call = getattr(self._stub, method)(
            request, metadata=(("authorization", f"Bearer {token}"),))
        try:
            while True:
                message = await call.read()
                if message is grpc.aio.EOF:
                    return
                yield message
        except grpc.aio.AioRpcError as err:
            raise UpstreamError.from_rpc(err) from err
        finally:
            call.cancel()
