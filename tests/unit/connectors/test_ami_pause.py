"""The AMI client stops reading while its sink (Kafka) is not ready, and resumes by itself."""

from __future__ import annotations

import asyncio

from connectors.ami import AmiClient, Frame
from connectors.ami_server import AmiServer


async def test_no_frame_is_read_while_not_ready_and_all_arrive_after():
    server = AmiServer("u", "s")
    await server.start()
    got: list[Frame] = []
    ready = False

    async def handler(frame: Frame) -> None:
        got.append(frame)

    client = AmiClient("127.0.0.1", server.port, "u", "s", handler, ready=lambda: ready,
                       ready_poll_s=0.02)
    stop = asyncio.Event()
    task = asyncio.create_task(client.run(stop))
    try:
        await server.wait_client()
        await server.send([{"Event": "Newchannel", "Uniqueid": str(i)} for i in range(5)])
        await asyncio.sleep(0.2)
        assert got == []  # paused: the frames wait in the socket, not in our memory
        ready = True
        async with asyncio.timeout(5):
            while len(got) < 5:
                await asyncio.sleep(0.01)
        assert [f["Uniqueid"] for f in got] == ["0", "1", "2", "3", "4"]
        assert client.paused_s > 0
    finally:
        stop.set()
        await task
        await server.stop()


async def test_stop_ends_a_paused_session():
    server = AmiServer("u", "s")
    await server.start()

    async def handler(frame: Frame) -> None:
        raise AssertionError("nothing may be read")

    client = AmiClient("127.0.0.1", server.port, "u", "s", handler, ready=lambda: False,
                       ready_poll_s=0.02)
    stop = asyncio.Event()
    task = asyncio.create_task(client.run(stop))
    await server.wait_client()
    stop.set()
    async with asyncio.timeout(2):
        await task
    await server.stop()
