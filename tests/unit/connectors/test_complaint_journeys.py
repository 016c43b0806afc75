"""The simulator opens complaints on all five channels, each through that channel's own
feed, and works every one of them to closing at the desk."""

from __future__ import annotations

import itertools
import random

from connectors import complaint_journeys
from connectors.journeys import make_customer


def test_five_complaints_open_on_five_channels_and_each_is_closed():
    rng = random.Random(3)
    ids = itertools.count()
    openings, closings = [], 0
    for n in range(5):
        steps = complaint_journeys.steps(rng, make_customer(rng, n), "fee_dispute",
                                         lambda kind: f"{kind}-{next(ids)}", lambda: next(ids))
        kinds = [kind for kind, _ in steps if kind not in ("sleep", "bind")]
        openings.append(kinds[0])
        desk = [item["type"] for kind, body in steps if kind == "desktop" for item in body]
        assert desk[-2:] == ["complaint_resolved", "complaint_closed"]
        assert "complaint_assigned" in desk
        closings += 1
    # phone opens at the desk, app and web by Segment, WeChat by a message, branch by
    # the counter app
    assert sorted(openings) == sorted(["desktop", "segment", "segment", "wechat", "branch"])
    assert closings == 5
