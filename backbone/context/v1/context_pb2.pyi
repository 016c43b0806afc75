from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class Channel(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    CHANNEL_UNSPECIFIED: _ClassVar[Channel]
    CHANNEL_PHONE: _ClassVar[Channel]
    CHANNEL_APP: _ClassVar[Channel]
    CHANNEL_WEB: _ClassVar[Channel]
    CHANNEL_WECHAT: _ClassVar[Channel]
    CHANNEL_BRANCH: _ClassVar[Channel]

class Role(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    ROLE_UNSPECIFIED: _ClassVar[Role]
    ROLE_CHANNEL_SYSTEM: _ClassVar[Role]
    ROLE_AGENT: _ClassVar[Role]
    ROLE_SUPERVISOR: _ClassVar[Role]
    ROLE_AUDITOR: _ClassVar[Role]

class HandoffStatus(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    HANDOFF_STATUS_UNSPECIFIED: _ClassVar[HandoffStatus]
    HANDOFF_STATUS_CREATED: _ClassVar[HandoffStatus]
    HANDOFF_STATUS_ACCEPTED: _ClassVar[HandoffStatus]
    HANDOFF_STATUS_CANCELLED: _ClassVar[HandoffStatus]
    HANDOFF_STATUS_EXPIRED: _ClassVar[HandoffStatus]
CHANNEL_UNSPECIFIED: Channel
CHANNEL_PHONE: Channel
CHANNEL_APP: Channel
CHANNEL_WEB: Channel
CHANNEL_WECHAT: Channel
CHANNEL_BRANCH: Channel
ROLE_UNSPECIFIED: Role
ROLE_CHANNEL_SYSTEM: Role
ROLE_AGENT: Role
ROLE_SUPERVISOR: Role
ROLE_AUDITOR: Role
HANDOFF_STATUS_UNSPECIFIED: HandoffStatus
HANDOFF_STATUS_CREATED: HandoffStatus
HANDOFF_STATUS_ACCEPTED: HandoffStatus
HANDOFF_STATUS_CANCELLED: HandoffStatus
HANDOFF_STATUS_EXPIRED: HandoffStatus

class IdentifierKey(_message.Message):
    __slots__ = ("type", "value")
    TYPE_FIELD_NUMBER: _ClassVar[int]
    VALUE_FIELD_NUMBER: _ClassVar[int]
    type: str
    value: str
    def __init__(self, type: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...

class CustomerLookup(_message.Message):
    __slots__ = ("customer_id", "identifier")
    CUSTOMER_ID_FIELD_NUMBER: _ClassVar[int]
    IDENTIFIER_FIELD_NUMBER: _ClassVar[int]
    customer_id: str
    identifier: IdentifierKey
    def __init__(self, customer_id: _Optional[str] = ..., identifier: _Optional[_Union[IdentifierKey, _Mapping]] = ...) -> None: ...

class Watermark(_message.Message):
    __slots__ = ("event_ids", "min_version")
    EVENT_IDS_FIELD_NUMBER: _ClassVar[int]
    MIN_VERSION_FIELD_NUMBER: _ClassVar[int]
    event_ids: _containers.RepeatedScalarFieldContainer[str]
    min_version: int
    def __init__(self, event_ids: _Optional[_Iterable[str]] = ..., min_version: _Optional[int] = ...) -> None: ...

class Freshness(_message.Message):
    __slots__ = ("version", "updated_at_ms", "view_caught_up", "view_lag_messages", "served_by")
    VERSION_FIELD_NUMBER: _ClassVar[int]
    UPDATED_AT_MS_FIELD_NUMBER: _ClassVar[int]
    VIEW_CAUGHT_UP_FIELD_NUMBER: _ClassVar[int]
    VIEW_LAG_MESSAGES_FIELD_NUMBER: _ClassVar[int]
    SERVED_BY_FIELD_NUMBER: _ClassVar[int]
    version: int
    updated_at_ms: int
    view_caught_up: bool
    view_lag_messages: int
    served_by: str
    def __init__(self, version: _Optional[int] = ..., updated_at_ms: _Optional[int] = ..., view_caught_up: _Optional[bool] = ..., view_lag_messages: _Optional[int] = ..., served_by: _Optional[str] = ...) -> None: ...

class Identity(_message.Message):
    __slots__ = ("type", "value", "masked", "verified")
    TYPE_FIELD_NUMBER: _ClassVar[int]
    VALUE_FIELD_NUMBER: _ClassVar[int]
    MASKED_FIELD_NUMBER: _ClassVar[int]
    VERIFIED_FIELD_NUMBER: _ClassVar[int]
    type: str
    value: str
    masked: bool
    verified: bool
    def __init__(self, type: _Optional[str] = ..., value: _Optional[str] = ..., masked: _Optional[bool] = ..., verified: _Optional[bool] = ...) -> None: ...

class ProfileSummary(_message.Message):
    __slots__ = ("first_seen_ms", "last_seen_ms", "channels", "attributes", "products", "consents", "consent_history", "traits", "consents_masked", "traits_masked")
    FIRST_SEEN_MS_FIELD_NUMBER: _ClassVar[int]
    LAST_SEEN_MS_FIELD_NUMBER: _ClassVar[int]
    CHANNELS_FIELD_NUMBER: _ClassVar[int]
    ATTRIBUTES_FIELD_NUMBER: _ClassVar[int]
    PRODUCTS_FIELD_NUMBER: _ClassVar[int]
    CONSENTS_FIELD_NUMBER: _ClassVar[int]
    CONSENT_HISTORY_FIELD_NUMBER: _ClassVar[int]
    TRAITS_FIELD_NUMBER: _ClassVar[int]
    CONSENTS_MASKED_FIELD_NUMBER: _ClassVar[int]
    TRAITS_MASKED_FIELD_NUMBER: _ClassVar[int]
    first_seen_ms: int
    last_seen_ms: int
    channels: _containers.RepeatedScalarFieldContainer[Channel]
    attributes: _containers.RepeatedCompositeFieldContainer[ProfileAttribute]
    products: _containers.RepeatedCompositeFieldContainer[ProductHolding]
    consents: _containers.RepeatedCompositeFieldContainer[Consent]
    consent_history: _containers.RepeatedCompositeFieldContainer[Consent]
    traits: ComputedTraits
    consents_masked: bool
    traits_masked: bool
    def __init__(self, first_seen_ms: _Optional[int] = ..., last_seen_ms: _Optional[int] = ..., channels: _Optional[_Iterable[_Union[Channel, str]]] = ..., attributes: _Optional[_Iterable[_Union[ProfileAttribute, _Mapping]]] = ..., products: _Optional[_Iterable[_Union[ProductHolding, _Mapping]]] = ..., consents: _Optional[_Iterable[_Union[Consent, _Mapping]]] = ..., consent_history: _Optional[_Iterable[_Union[Consent, _Mapping]]] = ..., traits: _Optional[_Union[ComputedTraits, _Mapping]] = ..., consents_masked: _Optional[bool] = ..., traits_masked: _Optional[bool] = ...) -> None: ...

class ProfileAttribute(_message.Message):
    __slots__ = ("name", "value", "data_level", "masked", "source", "updated_at_ms")
    NAME_FIELD_NUMBER: _ClassVar[int]
    VALUE_FIELD_NUMBER: _ClassVar[int]
    DATA_LEVEL_FIELD_NUMBER: _ClassVar[int]
    MASKED_FIELD_NUMBER: _ClassVar[int]
    SOURCE_FIELD_NUMBER: _ClassVar[int]
    UPDATED_AT_MS_FIELD_NUMBER: _ClassVar[int]
    name: str
    value: str
    data_level: int
    masked: bool
    source: str
    updated_at_ms: int
    def __init__(self, name: _Optional[str] = ..., value: _Optional[str] = ..., data_level: _Optional[int] = ..., masked: _Optional[bool] = ..., source: _Optional[str] = ..., updated_at_ms: _Optional[int] = ...) -> None: ...

class ProductHolding(_message.Message):
    __slots__ = ("product_type", "account_number", "account_masked", "status", "data_level", "account_data_level")
    PRODUCT_TYPE_FIELD_NUMBER: _ClassVar[int]
    ACCOUNT_NUMBER_FIELD_NUMBER: _ClassVar[int]
    ACCOUNT_MASKED_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    DATA_LEVEL_FIELD_NUMBER: _ClassVar[int]
    ACCOUNT_DATA_LEVEL_FIELD_NUMBER: _ClassVar[int]
    product_type: str
    account_number: str
    account_masked: bool
    status: str
    data_level: int
    account_data_level: int
    def __init__(self, product_type: _Optional[str] = ..., account_number: _Optional[str] = ..., account_masked: _Optional[bool] = ..., status: _Optional[str] = ..., data_level: _Optional[int] = ..., account_data_level: _Optional[int] = ...) -> None: ...

class Consent(_message.Message):
    __slots__ = ("purpose", "channel", "granted", "source", "at_ms")
    PURPOSE_FIELD_NUMBER: _ClassVar[int]
    CHANNEL_FIELD_NUMBER: _ClassVar[int]
    GRANTED_FIELD_NUMBER: _ClassVar[int]
    SOURCE_FIELD_NUMBER: _ClassVar[int]
    AT_MS_FIELD_NUMBER: _ClassVar[int]
    purpose: str
    channel: str
    granted: bool
    source: str
    at_ms: int
    def __init__(self, purpose: _Optional[str] = ..., channel: _Optional[str] = ..., granted: _Optional[bool] = ..., source: _Optional[str] = ..., at_ms: _Optional[int] = ...) -> None: ...

class ComputedTraits(_message.Message):
    __slots__ = ("contacts_30d_by_channel", "last_contact_reason", "open_complaints", "days_since_last_complaint", "last_complaint_at_ms", "preferred_channel")
    class Contacts30dByChannelEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: int
        def __init__(self, key: _Optional[str] = ..., value: _Optional[int] = ...) -> None: ...
    CONTACTS_30D_BY_CHANNEL_FIELD_NUMBER: _ClassVar[int]
    LAST_CONTACT_REASON_FIELD_NUMBER: _ClassVar[int]
    OPEN_COMPLAINTS_FIELD_NUMBER: _ClassVar[int]
    DAYS_SINCE_LAST_COMPLAINT_FIELD_NUMBER: _ClassVar[int]
    LAST_COMPLAINT_AT_MS_FIELD_NUMBER: _ClassVar[int]
    PREFERRED_CHANNEL_FIELD_NUMBER: _ClassVar[int]
    contacts_30d_by_channel: _containers.ScalarMap[str, int]
    last_contact_reason: str
    open_complaints: int
    days_since_last_complaint: int
    last_complaint_at_ms: int
    preferred_channel: Channel
    def __init__(self, contacts_30d_by_channel: _Optional[_Mapping[str, int]] = ..., last_contact_reason: _Optional[str] = ..., open_complaints: _Optional[int] = ..., days_since_last_complaint: _Optional[int] = ..., last_complaint_at_ms: _Optional[int] = ..., preferred_channel: _Optional[_Union[Channel, str]] = ...) -> None: ...

class TimelineEntry(_message.Message):
    __slots__ = ("event_id", "event_type", "channel", "occurred_at_ms", "ingested_at_ms", "interaction_id", "journey_id", "reason", "actor", "organisation", "summary", "attributes")
    class AttributesEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    EVENT_ID_FIELD_NUMBER: _ClassVar[int]
    EVENT_TYPE_FIELD_NUMBER: _ClassVar[int]
    CHANNEL_FIELD_NUMBER: _ClassVar[int]
    OCCURRED_AT_MS_FIELD_NUMBER: _ClassVar[int]
    INGESTED_AT_MS_FIELD_NUMBER: _ClassVar[int]
    INTERACTION_ID_FIELD_NUMBER: _ClassVar[int]
    JOURNEY_ID_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    ACTOR_FIELD_NUMBER: _ClassVar[int]
    ORGANISATION_FIELD_NUMBER: _ClassVar[int]
    SUMMARY_FIELD_NUMBER: _ClassVar[int]
    ATTRIBUTES_FIELD_NUMBER: _ClassVar[int]
    event_id: str
    event_type: str
    channel: Channel
    occurred_at_ms: int
    ingested_at_ms: int
    interaction_id: str
    journey_id: str
    reason: str
    actor: str
    organisation: str
    summary: str
    attributes: _containers.ScalarMap[str, str]
    def __init__(self, event_id: _Optional[str] = ..., event_type: _Optional[str] = ..., channel: _Optional[_Union[Channel, str]] = ..., occurred_at_ms: _Optional[int] = ..., ingested_at_ms: _Optional[int] = ..., interaction_id: _Optional[str] = ..., journey_id: _Optional[str] = ..., reason: _Optional[str] = ..., actor: _Optional[str] = ..., organisation: _Optional[str] = ..., summary: _Optional[str] = ..., attributes: _Optional[_Mapping[str, str]] = ...) -> None: ...

class TimelineQuery(_message.Message):
    __slots__ = ("page_size", "page_token", "channels", "since_ms", "until_ms")
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    CHANNELS_FIELD_NUMBER: _ClassVar[int]
    SINCE_MS_FIELD_NUMBER: _ClassVar[int]
    UNTIL_MS_FIELD_NUMBER: _ClassVar[int]
    page_size: int
    page_token: str
    channels: _containers.RepeatedScalarFieldContainer[Channel]
    since_ms: int
    until_ms: int
    def __init__(self, page_size: _Optional[int] = ..., page_token: _Optional[str] = ..., channels: _Optional[_Iterable[_Union[Channel, str]]] = ..., since_ms: _Optional[int] = ..., until_ms: _Optional[int] = ...) -> None: ...

class Journey(_message.Message):
    __slots__ = ("journey_id", "reason", "status", "channels", "last_channel", "tried", "started_at_ms", "updated_at_ms", "handoff_count")
    JOURNEY_ID_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    CHANNELS_FIELD_NUMBER: _ClassVar[int]
    LAST_CHANNEL_FIELD_NUMBER: _ClassVar[int]
    TRIED_FIELD_NUMBER: _ClassVar[int]
    STARTED_AT_MS_FIELD_NUMBER: _ClassVar[int]
    UPDATED_AT_MS_FIELD_NUMBER: _ClassVar[int]
    HANDOFF_COUNT_FIELD_NUMBER: _ClassVar[int]
    journey_id: str
    reason: str
    status: str
    channels: _containers.RepeatedScalarFieldContainer[Channel]
    last_channel: Channel
    tried: _containers.RepeatedScalarFieldContainer[str]
    started_at_ms: int
    updated_at_ms: int
    handoff_count: int
    def __init__(self, journey_id: _Optional[str] = ..., reason: _Optional[str] = ..., status: _Optional[str] = ..., channels: _Optional[_Iterable[_Union[Channel, str]]] = ..., last_channel: _Optional[_Union[Channel, str]] = ..., tried: _Optional[_Iterable[str]] = ..., started_at_ms: _Optional[int] = ..., updated_at_ms: _Optional[int] = ..., handoff_count: _Optional[int] = ...) -> None: ...

class Complaint(_message.Message):
    __slots__ = ("complaint_id", "status", "category", "opened_at_ms", "due_at_ms", "owner", "team", "promise", "tier_days", "escalations", "channel")
    COMPLAINT_ID_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    CATEGORY_FIELD_NUMBER: _ClassVar[int]
    OPENED_AT_MS_FIELD_NUMBER: _ClassVar[int]
    DUE_AT_MS_FIELD_NUMBER: _ClassVar[int]
    OWNER_FIELD_NUMBER: _ClassVar[int]
    TEAM_FIELD_NUMBER: _ClassVar[int]
    PROMISE_FIELD_NUMBER: _ClassVar[int]
    TIER_DAYS_FIELD_NUMBER: _ClassVar[int]
    ESCALATIONS_FIELD_NUMBER: _ClassVar[int]
    CHANNEL_FIELD_NUMBER: _ClassVar[int]
    complaint_id: str
    status: str
    category: str
    opened_at_ms: int
    due_at_ms: int
    owner: str
    team: str
    promise: str
    tier_days: int
    escalations: int
    channel: Channel
    def __init__(self, complaint_id: _Optional[str] = ..., status: _Optional[str] = ..., category: _Optional[str] = ..., opened_at_ms: _Optional[int] = ..., due_at_ms: _Optional[int] = ..., owner: _Optional[str] = ..., team: _Optional[str] = ..., promise: _Optional[str] = ..., tier_days: _Optional[int] = ..., escalations: _Optional[int] = ..., channel: _Optional[_Union[Channel, str]] = ...) -> None: ...

class SurveyAnswer(_message.Message):
    __slots__ = ("kind", "score", "scale_max", "at_ms")
    KIND_FIELD_NUMBER: _ClassVar[int]
    SCORE_FIELD_NUMBER: _ClassVar[int]
    SCALE_MAX_FIELD_NUMBER: _ClassVar[int]
    AT_MS_FIELD_NUMBER: _ClassVar[int]
    kind: str
    score: int
    scale_max: int
    at_ms: int
    def __init__(self, kind: _Optional[str] = ..., score: _Optional[int] = ..., scale_max: _Optional[int] = ..., at_ms: _Optional[int] = ...) -> None: ...

class ContactCounts(_message.Message):
    __slots__ = ("contacts_7d", "contacts_30d")
    CONTACTS_7D_FIELD_NUMBER: _ClassVar[int]
    CONTACTS_30D_FIELD_NUMBER: _ClassVar[int]
    contacts_7d: int
    contacts_30d: int
    def __init__(self, contacts_7d: _Optional[int] = ..., contacts_30d: _Optional[int] = ...) -> None: ...

class Handoff(_message.Message):
    __slots__ = ("handoff_id", "customer_id", "from_channel", "to_channel", "journey_id", "reason", "summary", "status", "created_at_ms", "expires_at_ms", "closed_at_ms", "created_by", "closed_by")
    HANDOFF_ID_FIELD_NUMBER: _ClassVar[int]
    CUSTOMER_ID_FIELD_NUMBER: _ClassVar[int]
    FROM_CHANNEL_FIELD_NUMBER: _ClassVar[int]
    TO_CHANNEL_FIELD_NUMBER: _ClassVar[int]
    JOURNEY_ID_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    SUMMARY_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    CREATED_AT_MS_FIELD_NUMBER: _ClassVar[int]
    EXPIRES_AT_MS_FIELD_NUMBER: _ClassVar[int]
    CLOSED_AT_MS_FIELD_NUMBER: _ClassVar[int]
    CREATED_BY_FIELD_NUMBER: _ClassVar[int]
    CLOSED_BY_FIELD_NUMBER: _ClassVar[int]
    handoff_id: str
    customer_id: str
    from_channel: Channel
    to_channel: Channel
    journey_id: str
    reason: str
    summary: str
    status: HandoffStatus
    created_at_ms: int
    expires_at_ms: int
    closed_at_ms: int
    created_by: str
    closed_by: str
    def __init__(self, handoff_id: _Optional[str] = ..., customer_id: _Optional[str] = ..., from_channel: _Optional[_Union[Channel, str]] = ..., to_channel: _Optional[_Union[Channel, str]] = ..., journey_id: _Optional[str] = ..., reason: _Optional[str] = ..., summary: _Optional[str] = ..., status: _Optional[_Union[HandoffStatus, str]] = ..., created_at_ms: _Optional[int] = ..., expires_at_ms: _Optional[int] = ..., closed_at_ms: _Optional[int] = ..., created_by: _Optional[str] = ..., closed_by: _Optional[str] = ...) -> None: ...

class CustomerContext(_message.Message):
    __slots__ = ("customer_id", "identities", "profile", "timeline", "open_journeys", "open_complaints", "last_csat", "last_nps", "counts", "active_handoffs", "freshness")
    CUSTOMER_ID_FIELD_NUMBER: _ClassVar[int]
    IDENTITIES_FIELD_NUMBER: _ClassVar[int]
    PROFILE_FIELD_NUMBER: _ClassVar[int]
    TIMELINE_FIELD_NUMBER: _ClassVar[int]
    OPEN_JOURNEYS_FIELD_NUMBER: _ClassVar[int]
    OPEN_COMPLAINTS_FIELD_NUMBER: _ClassVar[int]
    LAST_CSAT_FIELD_NUMBER: _ClassVar[int]
    LAST_NPS_FIELD_NUMBER: _ClassVar[int]
    COUNTS_FIELD_NUMBER: _ClassVar[int]
    ACTIVE_HANDOFFS_FIELD_NUMBER: _ClassVar[int]
    FRESHNESS_FIELD_NUMBER: _ClassVar[int]
    customer_id: str
    identities: _containers.RepeatedCompositeFieldContainer[Identity]
    profile: ProfileSummary
    timeline: _containers.RepeatedCompositeFieldContainer[TimelineEntry]
    open_journeys: _containers.RepeatedCompositeFieldContainer[Journey]
    open_complaints: _containers.RepeatedCompositeFieldContainer[Complaint]
    last_csat: SurveyAnswer
    last_nps: SurveyAnswer
    counts: ContactCounts
    active_handoffs: _containers.RepeatedCompositeFieldContainer[Handoff]
    freshness: Freshness
    def __init__(self, customer_id: _Optional[str] = ..., identities: _Optional[_Iterable[_Union[Identity, _Mapping]]] = ..., profile: _Optional[_Union[ProfileSummary, _Mapping]] = ..., timeline: _Optional[_Iterable[_Union[TimelineEntry, _Mapping]]] = ..., open_journeys: _Optional[_Iterable[_Union[Journey, _Mapping]]] = ..., open_complaints: _Optional[_Iterable[_Union[Complaint, _Mapping]]] = ..., last_csat: _Optional[_Union[SurveyAnswer, _Mapping]] = ..., last_nps: _Optional[_Union[SurveyAnswer, _Mapping]] = ..., counts: _Optional[_Union[ContactCounts, _Mapping]] = ..., active_handoffs: _Optional[_Iterable[_Union[Handoff, _Mapping]]] = ..., freshness: _Optional[_Union[Freshness, _Mapping]] = ...) -> None: ...

class GetCustomerContextRequest(_message.Message):
    __slots__ = ("lookup", "timeline", "min_freshness", "purpose", "unmask")
    LOOKUP_FIELD_NUMBER: _ClassVar[int]
    TIMELINE_FIELD_NUMBER: _ClassVar[int]
    MIN_FRESHNESS_FIELD_NUMBER: _ClassVar[int]
    PURPOSE_FIELD_NUMBER: _ClassVar[int]
    UNMASK_FIELD_NUMBER: _ClassVar[int]
    lookup: CustomerLookup
    timeline: TimelineQuery
    min_freshness: Watermark
    purpose: str
    unmask: bool
    def __init__(self, lookup: _Optional[_Union[CustomerLookup, _Mapping]] = ..., timeline: _Optional[_Union[TimelineQuery, _Mapping]] = ..., min_freshness: _Optional[_Union[Watermark, _Mapping]] = ..., purpose: _Optional[str] = ..., unmask: _Optional[bool] = ...) -> None: ...

class GetCustomerContextResponse(_message.Message):
    __slots__ = ("context", "next_page_token", "caller_role")
    CONTEXT_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    CALLER_ROLE_FIELD_NUMBER: _ClassVar[int]
    context: CustomerContext
    next_page_token: str
    caller_role: Role
    def __init__(self, context: _Optional[_Union[CustomerContext, _Mapping]] = ..., next_page_token: _Optional[str] = ..., caller_role: _Optional[_Union[Role, str]] = ...) -> None: ...

class WatchCustomerContextRequest(_message.Message):
    __slots__ = ("lookup", "resume_token", "purpose", "channels")
    LOOKUP_FIELD_NUMBER: _ClassVar[int]
    RESUME_TOKEN_FIELD_NUMBER: _ClassVar[int]
    PURPOSE_FIELD_NUMBER: _ClassVar[int]
    CHANNELS_FIELD_NUMBER: _ClassVar[int]
    lookup: CustomerLookup
    resume_token: str
    purpose: str
    channels: _containers.RepeatedScalarFieldContainer[Channel]
    def __init__(self, lookup: _Optional[_Union[CustomerLookup, _Mapping]] = ..., resume_token: _Optional[str] = ..., purpose: _Optional[str] = ..., channels: _Optional[_Iterable[_Union[Channel, str]]] = ...) -> None: ...

class ContextUpdate(_message.Message):
    __slots__ = ("customer_id", "new_entries", "changed_journeys", "full_snapshot", "erased", "freshness", "resume_token", "profile")
    CUSTOMER_ID_FIELD_NUMBER: _ClassVar[int]
    NEW_ENTRIES_FIELD_NUMBER: _ClassVar[int]
    CHANGED_JOURNEYS_FIELD_NUMBER: _ClassVar[int]
    FULL_SNAPSHOT_FIELD_NUMBER: _ClassVar[int]
    ERASED_FIELD_NUMBER: _ClassVar[int]
    FRESHNESS_FIELD_NUMBER: _ClassVar[int]
    RESUME_TOKEN_FIELD_NUMBER: _ClassVar[int]
    PROFILE_FIELD_NUMBER: _ClassVar[int]
    customer_id: str
    new_entries: _containers.RepeatedCompositeFieldContainer[TimelineEntry]
    changed_journeys: _containers.RepeatedCompositeFieldContainer[Journey]
    full_snapshot: bool
    erased: bool
    freshness: Freshness
    resume_token: str
    profile: ProfileSummary
    def __init__(self, customer_id: _Optional[str] = ..., new_entries: _Optional[_Iterable[_Union[TimelineEntry, _Mapping]]] = ..., changed_journeys: _Optional[_Iterable[_Union[Journey, _Mapping]]] = ..., full_snapshot: _Optional[bool] = ..., erased: _Optional[bool] = ..., freshness: _Optional[_Union[Freshness, _Mapping]] = ..., resume_token: _Optional[str] = ..., profile: _Optional[_Union[ProfileSummary, _Mapping]] = ...) -> None: ...

class CreateHandoffRequest(_message.Message):
    __slots__ = ("lookup", "from_channel", "to_channel", "journey_id", "reason", "summary", "ttl_seconds")
    LOOKUP_FIELD_NUMBER: _ClassVar[int]
    FROM_CHANNEL_FIELD_NUMBER: _ClassVar[int]
    TO_CHANNEL_FIELD_NUMBER: _ClassVar[int]
    JOURNEY_ID_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    SUMMARY_FIELD_NUMBER: _ClassVar[int]
    TTL_SECONDS_FIELD_NUMBER: _ClassVar[int]
    lookup: CustomerLookup
    from_channel: Channel
    to_channel: Channel
    journey_id: str
    reason: str
    summary: str
    ttl_seconds: int
    def __init__(self, lookup: _Optional[_Union[CustomerLookup, _Mapping]] = ..., from_channel: _Optional[_Union[Channel, str]] = ..., to_channel: _Optional[_Union[Channel, str]] = ..., journey_id: _Optional[str] = ..., reason: _Optional[str] = ..., summary: _Optional[str] = ..., ttl_seconds: _Optional[int] = ...) -> None: ...

class CreateHandoffResponse(_message.Message):
    __slots__ = ("handoff", "token", "short_code", "event_id")
    HANDOFF_FIELD_NUMBER: _ClassVar[int]
    TOKEN_FIELD_NUMBER: _ClassVar[int]
    SHORT_CODE_FIELD_NUMBER: _ClassVar[int]
    EVENT_ID_FIELD_NUMBER: _ClassVar[int]
    handoff: Handoff
    token: str
    short_code: str
    event_id: str
    def __init__(self, handoff: _Optional[_Union[Handoff, _Mapping]] = ..., token: _Optional[str] = ..., short_code: _Optional[str] = ..., event_id: _Optional[str] = ...) -> None: ...

class AcceptHandoffRequest(_message.Message):
    __slots__ = ("token", "short_code", "channel", "purpose", "timeline")
    TOKEN_FIELD_NUMBER: _ClassVar[int]
    SHORT_CODE_FIELD_NUMBER: _ClassVar[int]
    CHANNEL_FIELD_NUMBER: _ClassVar[int]
    PURPOSE_FIELD_NUMBER: _ClassVar[int]
    TIMELINE_FIELD_NUMBER: _ClassVar[int]
    token: str
    short_code: str
    channel: Channel
    purpose: str
    timeline: TimelineQuery
    def __init__(self, token: _Optional[str] = ..., short_code: _Optional[str] = ..., channel: _Optional[_Union[Channel, str]] = ..., purpose: _Optional[str] = ..., timeline: _Optional[_Union[TimelineQuery, _Mapping]] = ...) -> None: ...

class AcceptHandoffResponse(_message.Message):
    __slots__ = ("handoff", "context", "event_id")
    HANDOFF_FIELD_NUMBER: _ClassVar[int]
    CONTEXT_FIELD_NUMBER: _ClassVar[int]
    EVENT_ID_FIELD_NUMBER: _ClassVar[int]
    handoff: Handoff
    context: CustomerContext
    event_id: str
    def __init__(self, handoff: _Optional[_Union[Handoff, _Mapping]] = ..., context: _Optional[_Union[CustomerContext, _Mapping]] = ..., event_id: _Optional[str] = ...) -> None: ...

class CancelHandoffRequest(_message.Message):
    __slots__ = ("handoff_id", "reason")
    HANDOFF_ID_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    handoff_id: str
    reason: str
    def __init__(self, handoff_id: _Optional[str] = ..., reason: _Optional[str] = ...) -> None: ...

class CancelHandoffResponse(_message.Message):
    __slots__ = ("handoff", "event_id")
    HANDOFF_FIELD_NUMBER: _ClassVar[int]
    EVENT_ID_FIELD_NUMBER: _ClassVar[int]
    handoff: Handoff
    event_id: str
    def __init__(self, handoff: _Optional[_Union[Handoff, _Mapping]] = ..., event_id: _Optional[str] = ...) -> None: ...

class GetLiveKpisRequest(_message.Message):
    __slots__ = ("channels", "scope", "window")
    CHANNELS_FIELD_NUMBER: _ClassVar[int]
    SCOPE_FIELD_NUMBER: _ClassVar[int]
    WINDOW_FIELD_NUMBER: _ClassVar[int]
    channels: _containers.RepeatedScalarFieldContainer[Channel]
    scope: str
    window: str
    def __init__(self, channels: _Optional[_Iterable[_Union[Channel, str]]] = ..., scope: _Optional[str] = ..., window: _Optional[str] = ...) -> None: ...

class KpiValue(_message.Message):
    __slots__ = ("name", "value", "numerator", "denominator")
    NAME_FIELD_NUMBER: _ClassVar[int]
    VALUE_FIELD_NUMBER: _ClassVar[int]
    NUMERATOR_FIELD_NUMBER: _ClassVar[int]
    DENOMINATOR_FIELD_NUMBER: _ClassVar[int]
    name: str
    value: float
    numerator: float
    denominator: float
    def __init__(self, name: _Optional[str] = ..., value: _Optional[float] = ..., numerator: _Optional[float] = ..., denominator: _Optional[float] = ...) -> None: ...

class KpiSnapshot(_message.Message):
    __slots__ = ("channel", "scope", "window", "window_start_ms", "updated_at_ms", "values", "window_end_ms", "interval")
    CHANNEL_FIELD_NUMBER: _ClassVar[int]
    SCOPE_FIELD_NUMBER: _ClassVar[int]
    WINDOW_FIELD_NUMBER: _ClassVar[int]
    WINDOW_START_MS_FIELD_NUMBER: _ClassVar[int]
    UPDATED_AT_MS_FIELD_NUMBER: _ClassVar[int]
    VALUES_FIELD_NUMBER: _ClassVar[int]
    WINDOW_END_MS_FIELD_NUMBER: _ClassVar[int]
    INTERVAL_FIELD_NUMBER: _ClassVar[int]
    channel: Channel
    scope: str
    window: str
    window_start_ms: int
    updated_at_ms: int
    values: _containers.RepeatedCompositeFieldContainer[KpiValue]
    window_end_ms: int
    interval: str
    def __init__(self, channel: _Optional[_Union[Channel, str]] = ..., scope: _Optional[str] = ..., window: _Optional[str] = ..., window_start_ms: _Optional[int] = ..., updated_at_ms: _Optional[int] = ..., values: _Optional[_Iterable[_Union[KpiValue, _Mapping]]] = ..., window_end_ms: _Optional[int] = ..., interval: _Optional[str] = ...) -> None: ...

class GetLiveKpisResponse(_message.Message):
    __slots__ = ("snapshots", "view_lag_messages")
    SNAPSHOTS_FIELD_NUMBER: _ClassVar[int]
    VIEW_LAG_MESSAGES_FIELD_NUMBER: _ClassVar[int]
    snapshots: _containers.RepeatedCompositeFieldContainer[KpiSnapshot]
    view_lag_messages: int
    def __init__(self, snapshots: _Optional[_Iterable[_Union[KpiSnapshot, _Mapping]]] = ..., view_lag_messages: _Optional[int] = ...) -> None: ...

class GetKpiIntervalsRequest(_message.Message):
    __slots__ = ("channels", "scope", "interval", "from_ms", "to_ms")
    CHANNELS_FIELD_NUMBER: _ClassVar[int]
    SCOPE_FIELD_NUMBER: _ClassVar[int]
    INTERVAL_FIELD_NUMBER: _ClassVar[int]
    FROM_MS_FIELD_NUMBER: _ClassVar[int]
    TO_MS_FIELD_NUMBER: _ClassVar[int]
    channels: _containers.RepeatedScalarFieldContainer[Channel]
    scope: str
    interval: str
    from_ms: int
    to_ms: int
    def __init__(self, channels: _Optional[_Iterable[_Union[Channel, str]]] = ..., scope: _Optional[str] = ..., interval: _Optional[str] = ..., from_ms: _Optional[int] = ..., to_ms: _Optional[int] = ...) -> None: ...

class GetKpiIntervalsResponse(_message.Message):
    __slots__ = ("intervals", "view_lag_messages")
    INTERVALS_FIELD_NUMBER: _ClassVar[int]
    VIEW_LAG_MESSAGES_FIELD_NUMBER: _ClassVar[int]
    intervals: _containers.RepeatedCompositeFieldContainer[KpiSnapshot]
    view_lag_messages: int
    def __init__(self, intervals: _Optional[_Iterable[_Union[KpiSnapshot, _Mapping]]] = ..., view_lag_messages: _Optional[int] = ...) -> None: ...

class ComplaintRecord(_message.Message):
    __slots__ = ("complaint_id", "customer_id", "status", "category", "channel", "owner", "team", "tier_days", "escalations", "promise", "opened_at_ms", "due_at_ms", "resolved_at_ms", "closed_at_ms", "satisfaction", "overdue")
    COMPLAINT_ID_FIELD_NUMBER: _ClassVar[int]
    CUSTOMER_ID_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    CATEGORY_FIELD_NUMBER: _ClassVar[int]
    CHANNEL_FIELD_NUMBER: _ClassVar[int]
    OWNER_FIELD_NUMBER: _ClassVar[int]
    TEAM_FIELD_NUMBER: _ClassVar[int]
    TIER_DAYS_FIELD_NUMBER: _ClassVar[int]
    ESCALATIONS_FIELD_NUMBER: _ClassVar[int]
    PROMISE_FIELD_NUMBER: _ClassVar[int]
    OPENED_AT_MS_FIELD_NUMBER: _ClassVar[int]
    DUE_AT_MS_FIELD_NUMBER: _ClassVar[int]
    RESOLVED_AT_MS_FIELD_NUMBER: _ClassVar[int]
    CLOSED_AT_MS_FIELD_NUMBER: _ClassVar[int]
    SATISFACTION_FIELD_NUMBER: _ClassVar[int]
    OVERDUE_FIELD_NUMBER: _ClassVar[int]
    complaint_id: str
    customer_id: str
    status: str
    category: str
    channel: Channel
    owner: str
    team: str
    tier_days: int
    escalations: int
    promise: str
    opened_at_ms: int
    due_at_ms: int
    resolved_at_ms: int
    closed_at_ms: int
    satisfaction: int
    overdue: bool
    def __init__(self, complaint_id: _Optional[str] = ..., customer_id: _Optional[str] = ..., status: _Optional[str] = ..., category: _Optional[str] = ..., channel: _Optional[_Union[Channel, str]] = ..., owner: _Optional[str] = ..., team: _Optional[str] = ..., tier_days: _Optional[int] = ..., escalations: _Optional[int] = ..., promise: _Optional[str] = ..., opened_at_ms: _Optional[int] = ..., due_at_ms: _Optional[int] = ..., resolved_at_ms: _Optional[int] = ..., closed_at_ms: _Optional[int] = ..., satisfaction: _Optional[int] = ..., overdue: _Optional[bool] = ...) -> None: ...

class ListComplaintsRequest(_message.Message):
    __slots__ = ("owner", "team", "due_before_ms", "overdue_only", "channels", "page_size", "purpose")
    OWNER_FIELD_NUMBER: _ClassVar[int]
    TEAM_FIELD_NUMBER: _ClassVar[int]
    DUE_BEFORE_MS_FIELD_NUMBER: _ClassVar[int]
    OVERDUE_ONLY_FIELD_NUMBER: _ClassVar[int]
    CHANNELS_FIELD_NUMBER: _ClassVar[int]
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PURPOSE_FIELD_NUMBER: _ClassVar[int]
    owner: str
    team: str
    due_before_ms: int
    overdue_only: bool
    channels: _containers.RepeatedScalarFieldContainer[Channel]
    page_size: int
    purpose: str
    def __init__(self, owner: _Optional[str] = ..., team: _Optional[str] = ..., due_before_ms: _Optional[int] = ..., overdue_only: _Optional[bool] = ..., channels: _Optional[_Iterable[_Union[Channel, str]]] = ..., page_size: _Optional[int] = ..., purpose: _Optional[str] = ...) -> None: ...

class ListComplaintsResponse(_message.Message):
    __slots__ = ("complaints", "total", "view_lag_messages")
    COMPLAINTS_FIELD_NUMBER: _ClassVar[int]
    TOTAL_FIELD_NUMBER: _ClassVar[int]
    VIEW_LAG_MESSAGES_FIELD_NUMBER: _ClassVar[int]
    complaints: _containers.RepeatedCompositeFieldContainer[ComplaintRecord]
    total: int
    view_lag_messages: int
    def __init__(self, complaints: _Optional[_Iterable[_Union[ComplaintRecord, _Mapping]]] = ..., total: _Optional[int] = ..., view_lag_messages: _Optional[int] = ...) -> None: ...

class UpdateComplaintRequest(_message.Message):
    __slots__ = ("complaint_id", "action", "owner", "team", "reason", "promise", "satisfaction", "satisfaction_max", "purpose", "request_id")
    COMPLAINT_ID_FIELD_NUMBER: _ClassVar[int]
    ACTION_FIELD_NUMBER: _ClassVar[int]
    OWNER_FIELD_NUMBER: _ClassVar[int]
    TEAM_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    PROMISE_FIELD_NUMBER: _ClassVar[int]
    SATISFACTION_FIELD_NUMBER: _ClassVar[int]
    SATISFACTION_MAX_FIELD_NUMBER: _ClassVar[int]
    PURPOSE_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    complaint_id: str
    action: str
    owner: str
    team: str
    reason: str
    promise: str
    satisfaction: int
    satisfaction_max: int
    purpose: str
    request_id: str
    def __init__(self, complaint_id: _Optional[str] = ..., action: _Optional[str] = ..., owner: _Optional[str] = ..., team: _Optional[str] = ..., reason: _Optional[str] = ..., promise: _Optional[str] = ..., satisfaction: _Optional[int] = ..., satisfaction_max: _Optional[int] = ..., purpose: _Optional[str] = ..., request_id: _Optional[str] = ...) -> None: ...

class UpdateComplaintResponse(_message.Message):
    __slots__ = ("complaint", "event_id")
    COMPLAINT_FIELD_NUMBER: _ClassVar[int]
    EVENT_ID_FIELD_NUMBER: _ClassVar[int]
    complaint: ComplaintRecord
    event_id: str
    def __init__(self, complaint: _Optional[_Union[ComplaintRecord, _Mapping]] = ..., event_id: _Optional[str] = ...) -> None: ...

class WatchAlertsRequest(_message.Message):
    __slots__ = ("channels", "scope_prefix")
    CHANNELS_FIELD_NUMBER: _ClassVar[int]
    SCOPE_PREFIX_FIELD_NUMBER: _ClassVar[int]
    channels: _containers.RepeatedScalarFieldContainer[str]
    scope_prefix: str
    def __init__(self, channels: _Optional[_Iterable[str]] = ..., scope_prefix: _Optional[str] = ...) -> None: ...

class Alert(_message.Message):
    __slots__ = ("alert", "channel", "scope", "state", "severity", "at_ms", "since_ms", "value", "has_value", "threshold", "message")
    ALERT_FIELD_NUMBER: _ClassVar[int]
    CHANNEL_FIELD_NUMBER: _ClassVar[int]
    SCOPE_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    SEVERITY_FIELD_NUMBER: _ClassVar[int]
    AT_MS_FIELD_NUMBER: _ClassVar[int]
    SINCE_MS_FIELD_NUMBER: _ClassVar[int]
    VALUE_FIELD_NUMBER: _ClassVar[int]
    HAS_VALUE_FIELD_NUMBER: _ClassVar[int]
    THRESHOLD_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    alert: str
    channel: str
    scope: str
    state: str
    severity: str
    at_ms: int
    since_ms: int
    value: float
    has_value: bool
    threshold: float
    message: str
    def __init__(self, alert: _Optional[str] = ..., channel: _Optional[str] = ..., scope: _Optional[str] = ..., state: _Optional[str] = ..., severity: _Optional[str] = ..., at_ms: _Optional[int] = ..., since_ms: _Optional[int] = ..., value: _Optional[float] = ..., has_value: _Optional[bool] = ..., threshold: _Optional[float] = ..., message: _Optional[str] = ...) -> None: ...

class AlertUpdate(_message.Message):
    __slots__ = ("alert", "initial", "caught_up")
    ALERT_FIELD_NUMBER: _ClassVar[int]
    INITIAL_FIELD_NUMBER: _ClassVar[int]
    CAUGHT_UP_FIELD_NUMBER: _ClassVar[int]
    alert: Alert
    initial: bool
    caught_up: bool
    def __init__(self, alert: _Optional[_Union[Alert, _Mapping]] = ..., initial: _Optional[bool] = ..., caught_up: _Optional[bool] = ...) -> None: ...
