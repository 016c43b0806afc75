"""Watch diffs and resume tokens (no broker)."""

from __future__ import annotations

import pytest

from backbone.context.v1 import context_pb2 as pb
from services.context.status import RpcFailure
from services.context.watch import _Differ, decode_token, encode_token
from tests.integration.services.support import entry, snapshot


def _differ() -> _Differ:
    return _Differ(set(), lambda e: pb.Freshness(version=e.version))


def test_diff_sends_exactly_the_events_applied_since_the_last_one_seen() -> None:
    old = entry("c", snapshot("c", 1, n_events=3))
    new = entry("c", snapshot("c", 2, n_events=6))
    update = _differ().diff(old, new, "e2")
    assert not update.full_snapshot
    assert [t.event_id for t in update.new_entries] == ["e3", "e4", "e5"]
    assert decode_token(update.resume_token, "c") == (2, "e5")


def test_unknown_last_event_gives_a_full_snapshot() -> None:
    new = entry("c", snapshot("c", 2, n_events=3))
    update = _differ().diff(None, new, "gone")
    assert update.full_snapshot and [t.event_id for t in update.new_entries] == ["e0", "e1", "e2"]


def test_resume_tokens_are_bound_to_their_customer() -> None:
    token = encode_token(entry("c", snapshot("c", 1)))
    with pytest.raises(RpcFailure):
        decode_token(token, "someone-else")
    with pytest.raises(RpcFailure):
        decode_token("%%%", "c")
