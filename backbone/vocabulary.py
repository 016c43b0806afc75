"""The event-type vocabulary shared by connectors, processors and the service.

``event_type`` is a plain string in the Avro contract (enums are painful to evolve), so
this module is where the allowed values live. A processor that meets an unknown type
keeps it in the timeline but does not count it in any KPI.
"""

from __future__ import annotations

from typing import Final

# Phone (Asterisk AMI / queue_log, plus the agent desktop for IVR auth and wrap-up).
CALL_STARTED: Final = "call.started"              # Newchannel on the inbound leg
CALL_IVR_AUTHENTICATED: Final = "call.ivr_authenticated"
CALL_QUEUED: Final = "call.queued"                # QueueCallerJoin / ENTERQUEUE
CALL_AGENT_RINGING: Final = "call.agent_ringing"  # AgentCalled
CALL_RING_NO_ANSWER: Final = "call.ring_no_answer"
CALL_ANSWERED: Final = "call.answered"            # AgentConnect / CONNECT
CALL_COMPLETED: Final = "call.completed"          # AgentComplete / COMPLETE*
CALL_ABANDONED: Final = "call.abandoned"          # QueueCallerAbandon / ABANDON (timeout=false)
CALL_TIMED_OUT: Final = "call.timed_out"          # EXITWITHTIMEOUT or QUEUESTATUS=TIMEOUT
CALL_TRANSFERRED: Final = "call.transferred"      # Blind/AttendedTransfer
CALL_HOLD: Final = "call.hold"
CALL_UNHOLD: Final = "call.unhold"
CALL_ENDED: Final = "call.ended"                  # Hangup
CALL_CDR: Final = "call.cdr"
CALL_WRAPUP: Final = "call.wrapup"                # agent desktop after-call work

# App and web (Segment spec) and web chat.
DIGITAL_TRACK: Final = "digital.track"
DIGITAL_PAGE: Final = "digital.page"
DIGITAL_SCREEN: Final = "digital.screen"
DIGITAL_IDENTIFY: Final = "digital.identify"
DIGITAL_ALIAS: Final = "digital.alias"
DIGITAL_LOGIN: Final = "digital.login"            # trusted: links device/cookie to the user
CHAT_REQUESTED: Final = "chat.requested"
CHAT_QUEUED: Final = "chat.queued"
CHAT_AGENT_JOINED: Final = "chat.agent_joined"
CHAT_MESSAGE: Final = "chat.message"
CHAT_TRANSFERRED: Final = "chat.transferred"
CHAT_CLOSED: Final = "chat.closed"
CHAT_ABANDONED: Final = "chat.abandoned"

# WeChat Official Account.
WECHAT_SUBSCRIBE: Final = "wechat.subscribe"
WECHAT_UNSUBSCRIBE: Final = "wechat.unsubscribe"  # starts the data-deletion path
WECHAT_MESSAGE: Final = "wechat.message"
WECHAT_EVENT: Final = "wechat.event"              # SCAN, CLICK, VIEW, LOCATION
WECHAT_BIND: Final = "wechat.bind"                # trusted: OpenID bound to a customer number
WECHAT_KF_CREATE: Final = "wechat.kf_create_session"
WECHAT_KF_CLOSE: Final = "wechat.kf_close_session"
WECHAT_KF_SWITCH: Final = "wechat.kf_switch_session"
WECHAT_TRANSFER_TO_AGENT: Final = "wechat.transfer_customer_service"

# Branch queue-ticket (叫号) systems.
BRANCH_TICKET_ISSUED: Final = "branch.ticket_issued"   # 取号
BRANCH_CALLED: Final = "branch.called"                 # 叫号
BRANCH_RECALLED: Final = "branch.recalled"             # 重呼
BRANCH_NO_SHOW: Final = "branch.no_show"               # 过号
BRANCH_TRANSFERRED: Final = "branch.transferred"       # 转柜
BRANCH_SERVICE_STARTED: Final = "branch.service_started"
BRANCH_SERVICE_ENDED: Final = "branch.service_ended"   # 办结
BRANCH_IDENTIFIED: Final = "branch.identified"         # trusted: ID/bank card at the counter
BRANCH_COUNTER_OPENED: Final = "branch.counter_opened"
BRANCH_COUNTER_CLOSED: Final = "branch.counter_closed"

# Cross-channel.
SURVEY_ANSWERED: Final = "survey.answered"             # 评价器 / CSAT / NPS
# Complaint lifecycle (docs/complaints.md): ComplaintPayload.status is the step's name.
COMPLAINT_OPENED: Final = "complaint.opened"
COMPLAINT_ACKNOWLEDGED: Final = "complaint.acknowledged"
COMPLAINT_ASSIGNED: Final = "complaint.assigned"      # owner: agent or team
COMPLAINT_UPDATED: Final = "complaint.updated"
COMPLAINT_ESCALATED: Final = "complaint.escalated"
COMPLAINT_EXTENDED: Final = "complaint.extended"      # 15 -> 30 -> 60 days, with a reason
COMPLAINT_RESOLVED: Final = "complaint.resolved"      # decision given; satisfaction
COMPLAINT_CLOSED: Final = "complaint.closed"
COMPLAINT_REOPENED: Final = "complaint.reopened"
HANDOFF_CREATED: Final = "handoff.created"
HANDOFF_ACCEPTED: Final = "handoff.accepted"
HANDOFF_CANCELLED: Final = "handoff.cancelled"
HANDOFF_EXPIRED: Final = "handoff.expired"
CUSTOMER_ERASURE_REQUESTED: Final = "customer.erasure_requested"
IDENTITY_UNLINK_REQUESTED: Final = "identity.unlink_requested"  # undo a wrong merge

# Event types whose identifiers may create deterministic links (BRIEF §3).
TRUSTED_LINK_TYPES: Final = frozenset({
    CALL_IVR_AUTHENTICATED, DIGITAL_LOGIN, WECHAT_BIND, BRANCH_IDENTIFIED,
})

ALL_EVENT_TYPES: Final = frozenset(
    v for k, v in dict(globals()).items() if k.isupper() and isinstance(v, str) and "." in v
)
