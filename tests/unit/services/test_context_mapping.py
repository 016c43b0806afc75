"""Snapshot -> protobuf mapping, masking, timeline paging and the view (no broker)."""

from __future__ import annotations

import pytest

from backbone import snapshot as contract
from backbone.context.v1 import context_pb2 as pb
from services.context import mapping
from services.context.view import ContextView
from tests.integration.services.support import entry, snapshot


def _snap(data: dict) -> contract.CustomerContext:
    return contract.CustomerContext.model_validate(data)


def test_masked_unless_unmasked() -> None:
    snap = _snap(snapshot("c", 1))
    masked = {i.type: i.value for i in mapping.identities(snap, unmask=False)}
    assert masked == {"PHONE": "138****1234", "WECHAT_OPENID": "oWx****id",
                      "CUSTOMER_NUMBER": "CN****01"}
    plain = {i.type: i.value for i in mapping.identities(snap, unmask=True)}
    assert plain["PHONE"] == "h:k1:phonehash"


def test_paging_walks_the_whole_timeline_and_rejects_forged_tokens() -> None:
    entries = _snap(snapshot("c", 1, n_events=50)).timeline
    query = pb.TimelineQuery(page_size=20)
    seen, token = [], ""
    while True:
        query.page_token = token
        chunk, token = mapping.page(entries, query)
        seen += [t.event_id for t in chunk]
        if not token:
            break
    assert seen == [f"e{i}" for i in range(49, -1, -1)]
    with pytest.raises(ValueError, match="page token"):
        mapping.page(entries, pb.TimelineQuery(page_token="garbage"))


def test_view_ignores_older_versions_and_erases_with_tombstones() -> None:
    view = ContextView()
    view._apply("c", entry("c", snapshot("c", 5)))
    view._apply("c", entry("c", snapshot("c", 4, n_events=1)))
    found = view.get("c")
    assert found is not None and found.version == 5
    assert view.resolve("PHONE", "h:k1:phonehash") is found
    view._apply("c", None)
    assert view.get("c") is None and view.resolve("PHONE", "h:k1:phonehash") is None


def test_shared_phone_resolves_to_the_verified_customer_only() -> None:
    view = ContextView()
    view._apply("a", entry("a", snapshot("a", 1)))
    other = snapshot("b", 1)
    other["identities"][0]["verified"] = False
    view._apply("b", entry("b", other))
    assert view.resolve("PHONE", "h:k1:phonehash") is view.get("a")
    view._apply("a", None)  # the verified one is erased: the other is the only link left
    assert view.resolve("PHONE", "h:k1:phonehash") is view.get("b")


def test_entry_knows_applied_event_ids() -> None:
    found = entry("c", snapshot("c", 1, n_events=2, extra_ids=["handoff-x"]))
    assert found.has_applied(["e1", "handoff-x"]) and not found.has_applied(["e9"])


def test_credential_hashes_in_old_handoff_entries_are_never_shown() -> None:
    data = snapshot("c", 1, n_events=1)
    data["timeline"][0]["attributes"] = {"customer_id": "c", "expires_at": "1",
                                         "token_hash": "ab", "code_hash": "cd"}
    shown = mapping.timeline_entry(_snap(data).timeline[0])
    assert dict(shown.attributes) == {"customer_id": "c", "expires_at": "1"}


def test_freshness_carries_the_snapshot_time() -> None:
    """updated_at_ms is the processor's publish time, not 0."""
    from services.context.responses import freshness

    fresh = freshness(entry("c", snapshot("c", 3)), caught_up=True, lag=0, served_by="x")
    assert fresh.updated_at_ms == snapshot("c", 3)["updated_at"] > 0
