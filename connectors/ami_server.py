"""A scripted AMI server over real TCP: what the simulator and tests use in place of Asterisk.

It speaks the manager protocol's framing (banner, Login/Success, ``Key: Value`` blocks)
and streams whatever frames it is given to every logged-in client, waiting on the socket's
drain so a client that stops reading slows the script down, as a real peer would.
"""

from __future__ import annotations

import asyncio
import contextlib

from connectors.ami import Frame, parse_frame

BANNER = b"Asterisk Call Manager/5.0.1\r\n"


def encode(frame: Frame) -> bytes:
    return ("".join(f"{k}: {v}\r\n" for k, v in frame.items()) + "\r\n").encode()


class AmiServer:
    def __init__(self, username: str, secret: str, host: str = "127.0.0.1", port: int = 0):
        self.username, self.secret = username, secret
        self.host, self.port = host, port
        self._server: asyncio.base_events.Server | None = None
        self._clients: set[asyncio.StreamWriter] = set()
        self.logged_in = asyncio.Condition()
        self.logins = 0

    async def start(self) -> int:
        self._server = await asyncio.start_server(self._serve, self.host, self.port)
        self.port = self._server.sockets[0].getsockname()[1]
        return self.port

    async def stop(self) -> None:
        await self.drop_clients()
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()

    async def drop_clients(self) -> None:
        """Cut every session, like an Asterisk restart."""
        for writer in list(self._clients):
            writer.close()
        self._clients.clear()

    async def wait_client(self, timeout_s: float = 10.0) -> None:
        async with self.logged_in:
            await asyncio.wait_for(self.logged_in.wait_for(lambda: bool(self._clients)),
                                   timeout_s)

    async def send(self, frames: list[Frame]) -> None:
        """Write frames to every client; waits while a client does not read (backpressure)."""
        data = b"".join(encode(f) for f in frames)
        for writer in list(self._clients):
            try:
                writer.write(data)
                await writer.drain()
            except (ConnectionError, OSError):
                self._clients.discard(writer)

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(BANNER)
        try:
            raw = await reader.readuntil(b"\r\n\r\n")
            frame = parse_frame(raw)
            ok = (frame.get("Action", "").lower() == "login"
                  and frame.get("Username") == self.username
                  and frame.get("Secret") == self.secret)
            reply = {"Response": "Success" if ok else "Error",
                     "ActionID": frame.get("ActionID", ""),
                     "Message": "Authentication accepted" if ok else "Authentication failed"}
            writer.write(encode(reply))
            await writer.drain()
            if not ok:
                writer.close()
                return
            self.logins += 1
            self._clients.add(writer)
            async with self.logged_in:
                self.logged_in.notify_all()
            while await reader.read(4096):  # actions from the client are ignored
                pass
        except (asyncio.IncompleteReadError, ConnectionError, OSError,
                asyncio.CancelledError):  # the peer left, or the server is stopping
            pass
        finally:
            self._clients.discard(writer)
            with contextlib.suppress(Exception):
                writer.close()
