"""Pure rules of the profile feed: CDC row changes of the systems of record (CRM, core
banking; Debezium's envelope, schemas/avro/profile_change) become ``profile`` commands,
applied to the customer state idempotently and in source order, plus the computed traits.

Order and duplicates: every row (system, table, primary key) keeps the log position of
the last change applied to it (``lsn`` then ``ts_ms``); a change at or before it is a
duplicate or stale and changes nothing, so replays, redeliveries and a late older update
can never win over a newer one, and a delete keeps its position (nothing older
resurrects the row). The state lives under ``sor`` in the customer state, so merges,
erasure (the erased marker drops it) and snapshots need nothing of their own.
"""

from __future__ import annotations

from typing import Any

from backbone.data_levels import LEVELS
from backbone.identifiers import mask_card
from stream_processors import identity as ident
from stream_processors.routing import IDENTITY, Out

DAY_MS = 86_400_000
HISTORY_MAX = 50
TABLES = {"customers": "customer_number", "accounts": "account_id", "consents": "consent_id"}
ATTRIBUTES = ("tier", "segment", "preferred_language", "preferred_channel", "vulnerable")
CONSENT_STATUS = frozenset({"granted", "withdrawn"})
OPS = frozenset({"c", "u", "d", "r"})
DONE_COMPLAINT = frozenset({"closed", "resolved", "withdrawn"})  # as the service shows them


def command(change: dict[str, Any], key: bytes | None) -> Out:
    """The resolver command for one decoded ProfileChange, keyed by the customer number's
    identifier (the resolver knows whether it was erased). ValueError when malformed."""
    source, op = change.get("source") or {}, change.get("op")
    table = str(source.get("table", ""))
    if op not in OPS or table not in TABLES:
        raise ValueError(f"unsupported change: op {op!r} on table {table!r}")
    row = change.get("before") if op == "d" else change.get("after")
    if not isinstance(row, dict) or not row.get(TABLES[table]):
        raise ValueError(f"{op} change on {table} without its row image")
    number = str(row.get("customer_number") or "")
    if key is not None and key.decode() != number:
        raise ValueError("change key is not the row's customer number")
    if not ident.usable({"type": "CUSTOMER_NUMBER", "value": number}):
        raise ValueError("unusable customer number")
    lsn = source.get("lsn")
    at = int(source["ts_ms"])
    cmd = {"sys": str(source.get("name") or "unknown"), "table": table,
           "pk": str(row[TABLES[table]]), "op": op, "at": at,
           "pos": [int(lsn) if lsn is not None else -1, at], "row": _row(table, row)}
    return Out(IDENTITY, f"CUSTOMER_NUMBER:{number}", {"kind": "profile", "change": cmd})


def _row(table: str, row: dict[str, Any]) -> dict[str, Any]:
    """Only the columns the context uses; account numbers in display form whatever the
    source sent (a full number is masked here, a masked one stays as it is)."""
    if table == "customers":
        return {k: row[k] for k in ATTRIBUTES if row.get(k) is not None}
    if table == "accounts":
        acct = row.get("account_number_masked")
        return {"type": str(row["product_type"]), "acct": mask_card(acct) if acct else None,
                "st": row.get("status")}
    status = str(row.get("status", "")).lower()
    if status not in CONSENT_STATUS:
        raise ValueError(f"consent status {status!r}")
    return {"purpose": str(row["purpose"]).lower(), "channel": str(row["channel"]).upper(),
            "st": status, "via": row.get("captured_via")}


def verdict(state: dict[str, Any], change: dict[str, Any]) -> str | None:
    """Why ``change`` must not be applied (``None``: apply it)."""
    if state.get("erased_at") and int(change["at"]) <= state["erased_at"]:
        return "customer erased"
    seen = ((state.get("sor") or {}).get("pos") or {}).get(_row_key(change))
    if seen is None:
        return None
    new, old = tuple(change["pos"]), tuple(seen)
    return "duplicate" if new == old else "stale" if new < old else None


def _row_key(change: dict[str, Any]) -> str:
    return f"{change['sys']}.{change['table']}:{change['pk']}"


def apply(state: dict[str, Any], change: dict[str, Any]) -> None:
    """Apply a change that :func:`verdict` let through (mutates ``state``)."""
    sor = state.setdefault("sor", {})
    sor.setdefault("pos", {})[_row_key(change)] = list(change["pos"])
    table, row, at, deleted = change["table"], change["row"], int(change["at"]), change["op"] == "d"
    if table == "customers":
        sor["attrs"] = {} if deleted else {
            k: {"v": v, "src": change["sys"], "at": at} for k, v in row.items()}
    elif table == "accounts":
        prods = sor.setdefault("prod", {})
        if deleted:
            prods.pop(change["pk"], None)
        else:
            prods[change["pk"]] = dict(row, src=change["sys"], at=at)
    else:
        consents = sor.setdefault("cons", {})
        slot = f"{row['purpose']}|{row['channel']}"
        status = "withdrawn" if deleted else row["st"]
        if deleted:
            consents.pop(slot, None)
        else:
            consents[slot] = {"id": change["pk"], "st": status, "via": row.get("via"), "at": at}
        hist = sor.setdefault("hist", [])
        hist.append({"purpose": row["purpose"], "channel": row["channel"], "st": status,
                     "via": row.get("via"), "at": at, "op": change["op"]})
        hist.sort(key=lambda h: h["at"])
        del hist[: max(0, len(hist) - HISTORY_MAX)]
    state["v"] = state.get("v", 0) + 1


def _consent(c: dict[str, Any], purpose: str, channel: str) -> dict[str, Any]:
    return {"purpose": purpose, "channel": channel, "status": c["st"], "source": c.get("via"),
            "at": c["at"]}


def snapshot_fields(state: dict[str, Any]) -> dict[str, Any]:
    """The profile part of the snapshot (backbone/snapshot.py ``Profile``) from ``sor``
    and the log, each attribute stamped with its data level (backbone/data_levels.py)."""
    sor = state.get("sor") or {}
    attrs = [{"name": k, "value": _text(a["v"]), "level": LEVELS[k], "source": a["src"],
              "updated_at": a["at"]} for k, a in sorted((sor.get("attrs") or {}).items())]
    products = [{"product_type": p["type"], "account_number": p.get("acct"),
                 "status": p.get("st"), "level": LEVELS["product_type"],
                 "account_level": LEVELS["account_number"], "source": p["src"],
                 "updated_at": p["at"]}
                for _, p in sorted((sor.get("prod") or {}).items())
                if str(p.get("st") or "").upper() != "CLOSED"]
    consents = [_consent(c, *slot.split("|", 1))
                for slot, c in sorted((sor.get("cons") or {}).items())]
    history = [_consent(h, h["purpose"], h["channel"]) for h in reversed(sor.get("hist") or [])]
    return {"attributes": attrs, "products": products, "consents": consents,
            "consent_history": history, "traits": traits(state)}


def _text(value: Any) -> str:
    return ("true" if value else "false") if isinstance(value, bool) else str(value)


def traits(state: dict[str, Any]) -> dict[str, Any]:
    """Computed from the customer's log at every snapshot, in event time (``now`` is the
    customer's newest event, as the contact counts)."""
    now = state.get("now", 0)
    recent = [c for c in (state.get("contacts") or {}).values()
              if c["start"] > now - 30 * DAY_MS]
    by_channel: dict[str, int] = {}
    last_at: dict[str, int] = {}
    for c in recent:
        by_channel[c["ch"]] = by_channel.get(c["ch"], 0) + 1
        last_at[c["ch"]] = max(last_at.get(c["ch"], 0), c["start"])
    preferred = max(by_channel, key=lambda ch: (by_channel[ch], last_at[ch])) \
        if by_channel else None
    with_reason = [c for c in (state.get("contacts") or {}).values() if c.get("rs")]
    last_reason = max(with_reason, key=lambda c: c["start"])["rs"] if with_reason else None
    if last_reason is None:  # events with a reason that made no contact (a complaint)
        reasons = [e for e in state.get("ev") or () if e.get("rs")]
        last_reason = max(reasons, key=lambda e: e["at"])["rs"] if reasons else None
    comps = list((state.get("complaints") or {}).values())
    opened = [c["opened"] for c in comps if c.get("opened") is not None]
    last_complaint = max(opened) if opened else None
    return {"contacts_30d_by_channel": dict(sorted(by_channel.items())),
            "last_contact_reason": last_reason,
            "open_complaints": sum(1 for c in comps if c.get("st") not in DONE_COMPLAINT),
            "last_complaint_at": last_complaint,
            "days_since_last_complaint": (max(0, now - last_complaint) // DAY_MS
                                          if last_complaint is not None else None),
            "preferred_channel": preferred, "level": LEVELS["traits"]}
