"""Snapshot -> protobuf mapping, masking and timeline paging (no broker)."""

from __future__ import annotations

import pytest

from backbone.context.v1 import context_pb2 as pb
from services.context import mapping
from services.context.view import ContextView, Entry
from tests.integration.services.support import snapshot


def test_masked_unless_unmasked() -> None:
    data = snapshot("c", 1)
    masked = {i.type: i.value for i in mapping.identities(data, unmask=False)}
    assert masked == {"PHONE": "138****1234", "WECHAT_OPENID": "oWx****id",
                      "CUSTOMER_NUMBER": "CN****01"}
    plain = {i.type: i.value for i in mapping.identities(data, unmask=True)}
    assert plain["PHONE"] == "h:k1:phonehash"


def test_time_values_in_any_unit() -> None:
    assert mapping.ms(1_790_000_000_000) == 1_790_000_000_000
    assert mapping.ms(1_790_000_000) == 1_790_000_000_000
    assert mapping.ms("2026-01-01T00:00:00+00:00") == 1_767_225_600_000
    assert mapping.ms(None) == 0 and mapping.ms("soon") == 0


def test_paging_walks_the_whole_timeline_and_rejects_forged_tokens() -> None:
    entries = snapshot("c", 1, n_events=50)["timeline"]
    query = pb.TimelineQuery(page_size=20)
    seen, token = [], ""
    while True:
        query.page_token = token
        chunk, token = mapping.page(entries, query)
        seen += [t["event_id"] for t in chunk]
        if not token:
            break
    assert seen == [f"e{i}" for i in range(49, -1, -1)]
    with pytest.raises(ValueError, match="page token"):
        mapping.page(entries, pb.TimelineQuery(page_token="garbage"))


def test_view_ignores_older_versions_and_erases_with_tombstones() -> None:
    view = ContextView()
    view._apply("c", snapshot("c", 5))
    view._apply("c", snapshot("c", 4, n_events=1))
    entry = view.get("c")
    assert entry is not None and entry.version == 5
    assert view.resolve("PHONE", "h:k1:phonehash") is entry
    view._apply("c", None)
    assert view.get("c") is None and view.resolve("PHONE", "h:k1:phonehash") is None


def test_shared_phone_resolves_to_the_verified_customer_only() -> None:
    view = ContextView()
    view._apply("a", snapshot("a", 1))
    other = snapshot("b", 1)
    other["identities"][0]["verified"] = False
    view._apply("b", other)
    assert view.resolve("PHONE", "h:k1:phonehash") is view.get("a")


def test_entry_knows_applied_event_ids() -> None:
    entry = Entry.from_snapshot("c", snapshot("c", 1, n_events=2, extra_ids=["handoff-x"]))
    assert entry.has_applied(["e1", "handoff-x"]) and not entry.has_applied(["e9"])


def test_credential_hashes_in_old_handoff_entries_are_never_shown() -> None:
    entry = {"event_id": "h", "event_type": "handoff.created", "channel": "PHONE",
             "attributes": {"customer_id": "c", "expires_at": "1", "token_hash": "ab",
                            "code_hash": "cd"}}
    assert dict(mapping.timeline_entry(entry).attributes) == {"customer_id": "c",
                                                              "expires_at": "1"}
