"""Request bodies of the web API, validated at the edge (pydantic), and their protobuf form."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from backbone.context.v1 import context_pb2 as pb

ChannelName = Literal["PHONE", "APP", "WEB", "WECHAT", "BRANCH"]
IdentifierType = Literal["PHONE", "CUSTOMER_NUMBER", "WECHAT_OPENID", "WECHAT_UNIONID",
                         "APP_USER", "WEB_LOGIN", "CARD", "ID_NUMBER", "DEVICE", "COOKIE"]
Short = Field(default="", max_length=200)


def channel(name: str) -> pb.Channel:
    return pb.Channel.Value(f"CHANNEL_{name}")


class Body(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Lookup(Body):
    """A customer by id, or by an identifier a channel knows (exactly one)."""

    customer_id: str = Field(default="", max_length=200)
    type: IdentifierType | None = None
    value: str = Field(default="", max_length=200)

    @model_validator(mode="after")
    def _one(self) -> Lookup:
        if bool(self.customer_id) == bool(self.type and self.value.strip()):
            raise ValueError("give either customer_id or type and value")
        return self

    def proto(self) -> pb.CustomerLookup:
        if self.customer_id:
            return pb.CustomerLookup(customer_id=self.customer_id)
        return pb.CustomerLookup(identifier=pb.IdentifierKey(type=self.type or "",
                                                             value=self.value.strip()))


class ContextQuery(Lookup):
    purpose: str = Field(default="agent_desktop", max_length=64)
    unmask: bool = False
    page_size: int = Field(default=200, ge=1, le=200)


class WatchQuery(Body):
    """Always from a full snapshot: the stream regroups the whole timeline into contacts."""

    customer_id: str = Field(min_length=1, max_length=200)


class NewHandoff(Body):
    customer_id: str = Field(min_length=1, max_length=200)
    from_channel: ChannelName
    to_channel: ChannelName
    journey_id: str = Short
    reason: str = Short
    summary: str = Field(default="", max_length=1000)
    ttl_seconds: int = Field(default=0, ge=0, le=86_400)

    def proto(self) -> pb.CreateHandoffRequest:
        return pb.CreateHandoffRequest(
            lookup=pb.CustomerLookup(customer_id=self.customer_id),
            from_channel=channel(self.from_channel), to_channel=channel(self.to_channel),
            journey_id=self.journey_id, reason=self.reason, summary=self.summary,
            ttl_seconds=self.ttl_seconds)


class AcceptCode(Body):
    short_code: str = Field(pattern=r"^\d{4,12}$")
    channel: ChannelName
    purpose: str = Field(default="handoff_accept", max_length=64)

    def proto(self) -> pb.AcceptHandoffRequest:
        return pb.AcceptHandoffRequest(short_code=self.short_code, channel=channel(self.channel),
                                       purpose=self.purpose,
                                       timeline=pb.TimelineQuery(page_size=200))


class CancelHandoff(Body):
    reason: str = Short


class KpiQuery(Body):
    channels: list[ChannelName] = Field(default_factory=list, max_length=5)
    scope: str = Field(default="", max_length=200)
    window: Literal["", "1m", "15m", "1h", "today"] = ""

    def proto(self) -> pb.GetLiveKpisRequest:
        return pb.GetLiveKpisRequest(channels=[channel(c) for c in self.channels],
                                     scope=self.scope, window=self.window)
