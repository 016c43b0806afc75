"""Audit of context reads, fail closed, with the servicer built on fakes (no broker)."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import grpc
import pytest
from google.rpc import error_details_pb2, status_pb2

from backbone.context.v1 import context_pb2 as pb
from backbone.errors import BackpressureError, PublishError
from backbone.identifiers import Hasher
from backbone.settings import Settings
from services.context.audit import Auditor
from services.context.handoff import HandoffDesk
from services.context.handoff_book import HandoffBook
from services.context.kpis import KpiView
from services.context.servicer import ContextServicer
from services.context.view import ContextView
from tests.integration.services.support import snapshot

PHONE = "13800131234"


class _Message:
    def __init__(self, key: str, value: dict[str, Any]):
        self._key, self._value = key.encode(), json.dumps(value).encode()

    def key(self) -> bytes:
        return self._key

    def value(self) -> bytes:
        return self._value


class _Feed:
    caught_up = True

    def lag_messages(self) -> int:
        return 0


class _Publisher:
    """``mode``: ack (resolves), refuse (raises at once), fail (delivery fails), silent."""

    def __init__(self, mode: str):
        self.mode = mode
        self.records: list[dict[str, Any]] = []

    def publish(self, topic: str, key: Any, value: bytes) -> asyncio.Future[int]:
        if self.mode == "refuse":
            raise BackpressureError("producer queue full; retry later")
        future: asyncio.Future[int] = asyncio.get_running_loop().create_future()
        if self.mode == "ack":
            self.records.append(json.loads(value))
            future.set_result(0)
        elif self.mode == "fail":
            asyncio.get_running_loop().call_soon(
                future.set_exception, PublishError("Kafka refused record: broker down"))
        return future


class _Aborted(Exception):
    pass


class _Context:
    def __init__(self, role: str = "agent"):
        self._metadata = (("authorization", f"Bearer dev-{role}-token"),)
        self.status: grpc.Status | None = None

    def invocation_metadata(self) -> Any:
        return self._metadata

    def auth_context(self) -> Any:
        return {}

    def time_remaining(self) -> float:
        return 5.0

    async def abort_with_status(self, status: grpc.Status) -> None:
        self.status = status
        raise _Aborted

    def details(self) -> tuple[str, float]:
        """(ErrorInfo.reason, RetryInfo delay in s) of the aborted call."""
        assert self.status is not None
        raw = dict(self.status.trailing_metadata)["grpc-status-details-bin"]
        reason, delay = "", -1.0
        for detail in status_pb2.Status.FromString(raw).details:
            info, retry = error_details_pb2.ErrorInfo(), error_details_pb2.RetryInfo()
            if detail.Unpack(info):
                reason = info.reason
            elif detail.Unpack(retry):
                delay = retry.retry_delay.ToMilliseconds() / 1000
        return reason, delay


def _servicer(settings: Settings, publisher: _Publisher) -> ContextServicer:
    settings = settings.model_copy(update={"grpc_audit_timeout_s": 0.05})
    view = ContextView()
    phone = Hasher.from_settings(settings).hash("PHONE", PHONE)
    view.apply_batch([_Message("c1", snapshot("c1", 1, phone_hash=phone)),  # type: ignore[list-item]
                      _Message("c2", snapshot("c2", 1, phone_hash=phone))])
    book = HandoffBook(decoder=None, topic="handoffs")  # type: ignore[arg-type]
    desk = HandoffDesk(settings, book, publisher, None, instance="u",  # type: ignore[arg-type]
                       clock=lambda: 0.0)
    auditor = Auditor(settings, publisher, publisher, instance="u")  # type: ignore[arg-type]
    return ContextServicer(settings, view=view, kpis=KpiView(), feed=_Feed(),  # type: ignore[arg-type]
                           book=book, desk=desk, auditor=auditor, instance="u",
                           clock=lambda: 0.0)


def _by_id(customer_id: str, unmask: bool = False) -> pb.GetCustomerContextRequest:
    return pb.GetCustomerContextRequest(lookup=pb.CustomerLookup(customer_id=customer_id),
                                        purpose="inbound_call", unmask=unmask)


def _by_phone(number: str) -> pb.GetCustomerContextRequest:
    return pb.GetCustomerContextRequest(
        lookup=pb.CustomerLookup(identifier=pb.IdentifierKey(type="PHONE", value=number)),
        purpose="inbound_call")


@pytest.mark.parametrize("mode", ["refuse", "fail", "silent"])
@pytest.mark.parametrize("request_", [_by_id("c1"), _by_id("nobody")], ids=["found", "absent"])
async def test_a_read_whose_audit_record_is_not_written_answers_unavailable_and_no_data(
        unit_settings: Settings, mode: str, request_: pb.GetCustomerContextRequest) -> None:
    servicer = _servicer(unit_settings, _Publisher(mode))
    context = _Context()
    with pytest.raises(_Aborted):
        await servicer.GetCustomerContext(request_, context)  # type: ignore[arg-type]
    assert context.status is not None
    assert context.status.code == grpc.StatusCode.UNAVAILABLE  # not OK, not NOT_FOUND
    assert context.details() == ("AUDIT_UNAVAILABLE", 1.0)


async def test_every_outcome_is_audited_with_a_keyed_hash_of_the_lookup(
        unit_settings: Settings) -> None:
    publisher = _Publisher("ack")
    servicer = _servicer(unit_settings, publisher)
    raw = await servicer.GetCustomerContext(_by_id("c1"), _Context())  # type: ignore[arg-type]
    assert pb.GetCustomerContextResponse.FromString(raw).context.customer_id == "c1"
    for request, role in ((_by_phone("13900009999"), "agent"), (_by_phone(PHONE), "agent"),
                          (_by_id("c1", unmask=True), "agent")):
        with pytest.raises(_Aborted):
            await servicer.GetCustomerContext(request, _Context(role))  # type: ignore[arg-type]
    hasher = Hasher.from_settings(unit_settings)
    assert [(r["outcome"], r["reason"], r["lookup"]["type"], r["lookup"]["hash"],
             r["customer_id"], r["unmasked"]) for r in publisher.records] == [
        ("OK", "", "CUSTOMER_ID", hasher.hash("CUSTOMER_ID", "c1"), "c1", False),
        ("NOT_FOUND", "CUSTOMER_NOT_FOUND", "PHONE", hasher.hash("PHONE", "13900009999"), "",
         False),
        ("FAILED_PRECONDITION", "AMBIGUOUS_IDENTIFIER", "PHONE", hasher.hash("PHONE", PHONE), "",
         False),
        ("PERMISSION_DENIED", "UNMASK_NOT_ALLOWED", "CUSTOMER_ID",
         hasher.hash("CUSTOMER_ID", "c1"), "", True)]
    assert {(r["principal"], r["role"], r["purpose"], r["action"]) for r in publisher.records} \
        == {("agent-dev", "agent", "inbound_call", "read")}
    assert not any(n in json.dumps(r) for r in publisher.records for n in (PHONE, "13900009999"))
