"""One short human sentence per timeline entry, for an agent reading the context at a glance.

Never includes message text (BRIEF §5): only event facts.
"""

from __future__ import annotations

from typing import Any


def _fmt_s(value: Any) -> str:
    return f"{float(value):.0f}s" if isinstance(value, int | float) else "?"


def summarise(event: dict[str, Any]) -> str:
    etype = str(event["event_type"])
    p: dict[str, Any] = event["payload"] if isinstance(event.get("payload"), dict) else {}
    org = event.get("organisation") or {}
    domain, _, action = etype.partition(".")
    action = action.replace("_", " ")
    where = org.get("queue") or org.get("branch") or ""
    if domain == "call":
        if etype == "call.answered":
            return f"Call answered after {_fmt_s(p.get('wait_s'))} in queue {where}".strip()
        if etype == "call.abandoned":
            return f"Caller abandoned after {_fmt_s(p.get('wait_s'))} in queue {where}".strip()
        if etype == "call.completed":
            return f"Call completed, talk {_fmt_s(p.get('talk_s'))}"
        return f"Call {action}" + (f" ({where})" if where else "")
    if domain == "digital":
        text = f"{event['channel'].title()} {p.get('name') or action}"
        if p.get("outcome"):
            text += f": {p['outcome']}"
        if p.get("error_code"):
            text += f" ({p['error_code']})"
        return text
    if domain in ("chat", "wechat"):
        return f"{'WeChat' if domain == 'wechat' else 'Chat'} {action}"
    if domain == "branch":
        ticket = p.get("ticket_id")
        return f"Branch {where} {action}" + (f", ticket {ticket}" if ticket else "")
    if domain == "survey":
        return f"{p.get('kind', 'Survey')} score {p.get('score')}/{p.get('scale_max')}"
    if domain == "complaint":
        return f"Complaint {p.get('complaint_id', '')} {action}".strip()
    if domain == "handoff":
        return f"Handoff {p.get('from_channel')}→{p.get('to_channel')} {action}"
    return etype
