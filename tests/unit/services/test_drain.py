"""Stopping the gRPC server under load: every call a client made ends OK or UNAVAILABLE.

Without the drain, ``server.stop(grace)`` has gRPC core cancel the calls it received but
had not handed to a handler yet, and the clients see CANCELLED for calls that never ran
(about 6 per stop with 16 tight-looping callers here). The servicer below uses the same
``rpc``/``rpc_stream`` wrappers and the same ``stop_server`` as the context service.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import AsyncIterator
from typing import Any

import grpc
import pytest
from google.rpc import error_details_pb2
from grpc_status import rpc_status

from services.context.drain import REASON, Drain, stop_server
from services.context.status import rpc, rpc_stream

CALLERS = 16
ROUNDS = 4
_ident = bytes


class _Echo:
    def __init__(self) -> None:
        self.drain = Drain()

    @rpc("Echo")
    async def echo(self, request: bytes, context: grpc.aio.ServicerContext) -> bytes:
        return request

    @rpc_stream("Tick")
    async def tick(self, request: bytes, context: grpc.aio.ServicerContext
                   ) -> AsyncIterator[bytes]:
        while True:
            yield b"tick"
            await asyncio.sleep(0.01)


def _handler(svc: _Echo) -> grpc.GenericRpcHandler:
    return grpc.method_handlers_generic_handler("test.Echo", {
        "Echo": grpc.unary_unary_rpc_method_handler(svc.echo, _ident, _ident),
        "Tick": grpc.unary_stream_rpc_method_handler(svc.tick, _ident, _ident),
    })


async def _serve() -> tuple[grpc.aio.Server, _Echo, int]:
    svc = _Echo()
    server = grpc.aio.server()
    server.add_generic_rpc_handlers((_handler(svc),))
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    return server, svc, port


def _reason(exc: grpc.aio.AioRpcError) -> str | None:
    status = rpc_status.from_call(exc)  # type: ignore[arg-type]
    for detail in status.details if status else ():
        info = error_details_pb2.ErrorInfo()
        if detail.Unpack(info):
            return info.reason
    return None


async def _call_loop(port: int, codes: Counter[str], reasons: Counter[str | None],
                     stop: asyncio.Event) -> None:
    async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
        echo = channel.unary_unary("/test.Echo/Echo", _ident, _ident)
        while not stop.is_set():
            try:
                await echo(b"x", timeout=5)
                codes["OK"] += 1
            except grpc.aio.AioRpcError as exc:
                codes[exc.code().name] += 1
                reasons[_reason(exc)] += 1
                await asyncio.sleep(0.05)


async def test_stop_under_load_answers_unavailable_never_cancelled() -> None:
    codes: Counter[str] = Counter()
    reasons: Counter[str | None] = Counter()
    for _ in range(ROUNDS):
        server, svc, port = await _serve()
        stop = asyncio.Event()
        callers = [asyncio.create_task(_call_loop(port, codes, reasons, stop))
                   for _ in range(CALLERS)]
        await asyncio.sleep(0.3)
        await stop_server(server, svc.drain, drain_s=0.2, grace_s=1.0)
        await asyncio.sleep(0.2)  # the callers now meet a closed port
        stop.set()
        await asyncio.gather(*callers)
    assert set(codes) == {"OK", "UNAVAILABLE"}, codes
    assert reasons[REASON] >= CALLERS * ROUNDS // 2, reasons  # the held calls said why


async def test_open_stream_ends_unavailable_with_a_retry_hint() -> None:
    server, svc, port = await _serve()
    async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
        ticks = channel.unary_stream("/test.Echo/Tick", _ident, _ident)(b"", timeout=10)
        got: list[Any] = [await ticks.read()]
        stopping = asyncio.create_task(stop_server(server, svc.drain, drain_s=0.1,
                                                   grace_s=1.0))
        with pytest.raises(grpc.aio.AioRpcError) as failed:
            while True:
                got.append(await ticks.read())
        await stopping
    assert failed.value.code() == grpc.StatusCode.UNAVAILABLE
    assert _reason(failed.value) == REASON
    assert len(got) > 1


async def test_held_call_answers_before_its_deadline() -> None:
    server, svc, port = await _serve()
    svc.drain.begin()  # draining, never released
    try:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
            echo = channel.unary_unary("/test.Echo/Echo", _ident, _ident)
            with pytest.raises(grpc.aio.AioRpcError) as failed:
                await echo(b"x", timeout=0.5)
        assert failed.value.code() == grpc.StatusCode.UNAVAILABLE  # not DEADLINE_EXCEEDED
    finally:
        svc.drain.release()
        await server.stop(0.5)
