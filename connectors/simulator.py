"""Traffic simulator: ``python -m connectors.simulator --rate N --seed S --duration D``.

Creates customers and cross-channel journeys and sends them only through the connectors'
real protocols: Segment HTTP to the collector, signed and AES-encrypted WeChat callbacks,
JSON to the branch and agent-desktop feeds, and AMI over TCP from a scripted AMI server
that the phone connector connects to (it listens on ``settings.ami_port``).
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import random
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field

import aiohttp

from backbone.settings import Settings, get_settings
from connectors.ami_server import AmiServer
from connectors.journeys import Customer, Journey, Step, make_customer
from connectors.profile_feed import ProfileFeed
from connectors.wechat_crypto import WeChatCipher, signature


@dataclass
class Stats:
    journeys: int = 0
    sent: int = 0
    accepted: int = 0
    retried: int = 0
    status: Counter[str] = field(default_factory=Counter)


class Limiter:
    """Token bucket over events, so ``--rate`` is events per second across channels."""

    def __init__(self, rate: float):
        self.rate = rate
        self._tokens = 0.0
        self._last = time.monotonic()

    async def take(self, n: int) -> None:
        while True:
            now = time.monotonic()
            self._tokens = min(self._tokens + (now - self._last) * self.rate,
                               max(self.rate, n))
            self._last = now
            if self._tokens >= n:
                self._tokens -= n
                return
            await asyncio.sleep((n - self._tokens) / self.rate)


class Simulator:
    def __init__(self, settings: Settings, *, rate: float, seed: int,
                 collector: str, wechat: str, branch: str, desktop: str,
                 ami: AmiServer | None = None, customers: int = 2_000):
        self.settings = settings
        self.rng = random.Random(seed)  # noqa: S311 - reproducible traffic, not secrets
        self.limiter = Limiter(rate)
        self.urls = {"segment": collector, "wechat": wechat, "branch": branch,
                     "desktop": desktop}
        self.ami = ami
        self.pool: list[Customer] = []
        self.max_customers = customers
        self.run_id = f"s{seed}-{uuid.uuid4().hex[:6]}"
        self.stats = Stats()
        aes = settings.wechat_aes_key.get_secret_value()
        self.cipher = WeChatCipher(aes, settings.wechat_app_id) if aes else None
        self._seq = 0

    def customer(self) -> Customer:
        """New customers at first, then more and more repeat customers."""
        if len(self.pool) < self.max_customers and (
                not self.pool or self.rng.random() < 0.7):
            self.pool.append(make_customer(self.rng, len(self.pool) + 1))
            return self.pool[-1]
        return self.rng.choice(self.pool)

    async def run(self, duration_s: float, concurrency: int = 32) -> Stats:
        deadline = time.monotonic() + duration_s
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30)) as http:
            async def worker() -> None:
                while time.monotonic() < deadline:
                    self._seq += 1000
                    journey = Journey(self.rng, self.customer(), self.run_id, self._seq)
                    self.stats.journeys += 1
                    for step in journey.build():
                        if time.monotonic() >= deadline:
                            return
                        await self.send(http, step)

            await asyncio.gather(*(worker() for _ in range(concurrency)))
        return self.stats

    # -- transports ------------------------------------------------------------------
    async def send(self, http: aiohttp.ClientSession, step: Step) -> None:
        kind, body = step
        if kind == "sleep":
            await asyncio.sleep(body)
            return
        now = int(time.time() * 1000)
        if kind == "ami":
            await self.limiter.take(len(body))
            self.stats.sent += len(body)
            if self.ami is not None:
                await self.ami.send(body)
                self.stats.accepted += len(body)
            return
        if kind in ("branch", "desktop"):
            for item in body:
                item["occurred_at"] = now if item["occurred_at"] == "now" else item["occurred_at"]
            key = next(iter(getattr(self.settings, f"{kind}_api_keys")))
            await self._post(http, kind, len(body), f"{self.urls[kind]}/v1/{kind}/events",
                             json.dumps(body).encode(), {"Authorization": f"Bearer {key}"})
        elif kind == "segment":
            source, batch = body
            # The bank's back end forwards app logins with its server-side key (a client key
            # only makes claims); sources without one send with their client key.
            keys = self.settings.segment_write_keys
            key = min((k for k, v in keys.items() if v.source == source),
                      key=lambda k: keys[k].trust != "server")
            auth = base64.b64encode(f"{key}:".encode()).decode()
            payload = {"batch": batch, "sentAt": time.strftime("%Y-%m-%dT%H:%M:%SZ",
                                                                 time.gmtime())}
            await self._post(http, "segment", len(batch), f"{self.urls['segment']}/v1/batch",
                             json.dumps(payload).encode(), {"Authorization": f"Basic {auth}"})
        elif kind == "bind":
            body["bound_at"] = now
            token = self.settings.wechat_bind_token.get_secret_value()
            await self._post(http, "wechat", 1, f"{self.urls['wechat']}/wechat/bind",
                             json.dumps(body).encode(), {"Authorization": f"Bearer {token}"})
        elif kind == "wechat":
            await self._wechat(http, body)

    async def _wechat(self, http: aiohttp.ClientSession, msg: dict[str, str]) -> None:
        fields = {"ToUserName": "gh_bank", "CreateTime": str(int(time.time()))} | msg
        xml = "<xml>" + "".join(f"<{k}><![CDATA[{v}]]></{k}>" for k, v in fields.items()) \
              + "</xml>"
        token = self.settings.wechat_token.get_secret_value()
        ts, nonce = str(int(time.time())), uuid.uuid4().hex[:10]
        params = {"timestamp": ts, "nonce": nonce, "signature": signature(token, ts, nonce),
                  "openid": msg["FromUserName"]}
        data = xml.encode()
        if self.cipher is not None:
            encrypted = self.cipher.encrypt(data)
            params |= {"encrypt_type": "aes",
                       "msg_signature": signature(token, ts, nonce, encrypted)}
            data = f"<xml><Encrypt><![CDATA[{encrypted}]]></Encrypt></xml>".encode()
        query = "&".join(f"{k}={v}" for k, v in params.items())
        await self._post(http, "wechat", 1, f"{self.urls['wechat']}/wechat?{query}", data, {})

    async def _post(self, http: aiohttp.ClientSession, channel: str, events: int, url: str,
                    data: bytes, headers: dict[str, str]) -> None:
        await self.limiter.take(events)
        self.stats.sent += events
        for _attempt in range(10):
            try:
                async with http.post(url, data=data, headers=headers) as resp:
                    await resp.read()
                    self.stats.status[f"{channel} {resp.status}"] += 1
                    if resp.status == 503:
                        self.stats.retried += 1
                        await asyncio.sleep(float(resp.headers.get("Retry-After", "1")))
                        continue
                    if resp.status == 200:
                        self.stats.accepted += events
                    return
            except aiohttp.ClientError:
                self.stats.status[f"{channel} unreachable"] += 1
                await asyncio.sleep(1.0)


async def _progress(sim: Simulator, stop: asyncio.Event) -> None:
    started = time.monotonic()
    while not stop.is_set():
        await asyncio.sleep(1.0)
        s = sim.stats
        elapsed = time.monotonic() - started
        print(f"[{elapsed:5.0f}s] journeys {s.journeys:6d}  events sent {s.sent:8d}  "
              f"accepted {s.accepted:8d}  ({s.accepted / elapsed:7.0f}/s)  "
              f"customers {len(sim.pool):5d}  retries {s.retried}", flush=True)


async def main_async(args: argparse.Namespace) -> Stats:
    settings = get_settings()
    host = settings.connector_host
    ami = AmiServer(settings.ami_username, settings.ami_secret.get_secret_value(),
                    port=settings.ami_port)
    await ami.start()
    print(f"AMI server listening on {host}:{ami.port}; waiting for the phone connector "
          f"(python -m connectors) to log in...", flush=True)
    try:
        await ami.wait_client(args.ami_wait)
        print("phone connector logged in", flush=True)
    except TimeoutError:
        print("no phone connector connected; AMI traffic is generated but not consumed",
              flush=True)
    sim = Simulator(settings, rate=args.rate, seed=args.seed, ami=ami,
                    collector=f"http://{host}:{settings.collector_port}",
                    wechat=f"http://{host}:{settings.wechat_port}",
                    branch=f"http://{host}:{settings.branch_port}",
                    desktop=f"http://{host}:{settings.desktop_port}",
                    customers=args.customers)
    stop = asyncio.Event()
    progress = asyncio.create_task(_progress(sim, stop))
    # The systems of record: CRM and core-banking changes for the same customers (CDC).
    feed = ProfileFeed(settings, seed=args.seed) if args.profile_rate > 0 else None
    records = asyncio.create_task(feed.run(sim.pool, stop, args.profile_rate)) if feed else None
    stats = await sim.run(args.duration, concurrency=args.concurrency)
    stop.set()
    await progress
    if records is not None and feed is not None:
        await records
        print(f"profile feed: {feed.sent} CRM/core-banking changes for {len(feed.rows)} customers")
    await ami.stop()
    print(f"done: {stats.journeys} journeys, {stats.accepted}/{stats.sent} events accepted, "
          f"{len(sim.pool)} customers; responses: {dict(sorted(stats.status.items()))}")
    return stats


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m connectors.simulator", description=__doc__)
    parser.add_argument("--rate", type=float, default=50.0, help="events per second")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--duration", type=float, default=30.0, help="seconds")
    parser.add_argument("--customers", type=int, default=2_000)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--ami-wait", type=float, default=15.0)
    parser.add_argument("--profile-rate", type=float, default=20.0,
                        help="CRM/core-banking change events per second (0 = none)")
    asyncio.run(main_async(parser.parse_args()))


if __name__ == "__main__":
    main()

