"""Run several connectors in one process, sharing one Kafka producer."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field

from aiohttp import web

from backbone.kafka import AsyncPublisher
from backbone.settings import Settings
from connectors import app_web, branch, desktop, wechat
from connectors.base import Pipeline
from connectors.phone import PhoneConnector
from connectors.queue_log import QueueLogConnector

log = logging.getLogger(__name__)
CHANNELS = ("app_web", "wechat", "branch", "phone")
OPTIONAL = ("queue_log",)  # started when asked for, or when ``queue_log_path`` is set


@dataclass
class Running:
    """What is up: bound HTTP ports by connector name, and the phone connector if any."""

    ports: dict[str, int] = field(default_factory=dict)
    phone: PhoneConnector | None = None
    queue_log: QueueLogConnector | None = None
    runners: list[web.AppRunner] = field(default_factory=list)
    tasks: list[asyncio.Task[None]] = field(default_factory=list)
    publisher: AsyncPublisher | None = None

    async def stop(self) -> None:
        for task in self.tasks:
            await task
        for runner in self.runners:
            await runner.cleanup()
        if self.publisher is not None:
            await self.publisher.stop()


async def start(settings: Settings, channels: list[str], stop: asyncio.Event) -> Running:
    unknown = set(channels) - set(CHANNELS) - set(OPTIONAL)
    if unknown:
        raise ValueError(f"unknown channels {sorted(unknown)}; choose from {CHANNELS + OPTIONAL}")
    if "queue_log" in channels and not settings.queue_log_path:
        raise ValueError("the queue_log channel needs CCB_QUEUE_LOG_PATH")
    publisher = AsyncPublisher(settings, client_id="connectors")
    await publisher.start()
    running = Running(publisher=publisher)
    apps = {
        "app_web": (app_web.create_app, app_web.NAME, settings.collector_port),
        "wechat": (wechat.create_app, wechat.NAME, settings.wechat_port),
        "branch": (branch.create_app, branch.NAME, settings.branch_port),
    }
    wanted = [c for c in channels if c in apps]
    if "phone" in channels:
        wanted.append("desktop")
        apps["desktop"] = (desktop.create_app, desktop.NAME, settings.desktop_port)
    for name in wanted:
        factory, pipe_name, port = apps[name]
        app = factory(settings, pipeline=Pipeline(settings, pipe_name, publisher=publisher))
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, settings.connector_host, port)
        await site.start()
        running.runners.append(runner)
        server = site._server
        sockets = getattr(server, "sockets", None) or []
        running.ports[name] = sockets[0].getsockname()[1] if sockets else port
    if "phone" in channels:
        running.phone = PhoneConnector(settings,
                                       pipeline=Pipeline(settings, "phone", publisher=publisher))
        running.tasks.append(asyncio.create_task(running.phone.run(stop, manage_pipeline=False)))
    if "queue_log" in channels or settings.queue_log_path:
        running.queue_log = QueueLogConnector(
            settings, pipeline=Pipeline(settings, "queue_log", publisher=publisher))
        running.tasks.append(asyncio.create_task(
            running.queue_log.run(stop, manage_pipeline=False)))
    return running
