"""The profile part of a context answer, masked by data level (backbone/data_levels.py).

A value above the caller's clearance (services/context/auth.py ``CLEARANCE``) is
withheld, not dropped: the attribute stays listed with ``masked`` and no value, so a
channel system knows the customer has, say, a vulnerable-customer flag it must route to
an agent for, without learning what it says. The level is the higher of the one the
processors stamped and the catalogue's, so a wrong stamp cannot widen what a role sees.
"""

from __future__ import annotations

from backbone import snapshot as contract
from backbone.context.v1 import context_pb2 as pb
from backbone.data_levels import level_of

CHANNELS = {"PHONE": pb.CHANNEL_PHONE, "APP": pb.CHANNEL_APP, "WEB": pb.CHANNEL_WEB,
            "WECHAT": pb.CHANNEL_WECHAT, "BRANCH": pb.CHANNEL_BRANCH}


def _attribute(a: contract.ProfileAttribute, clearance: int) -> pb.ProfileAttribute:
    level = level_of(a.name, a.level)
    shown = clearance >= level
    return pb.ProfileAttribute(name=a.name, value=a.value if shown else "", data_level=level,
                               masked=not shown, source=a.source, updated_at_ms=a.updated_at)


def _product(p: contract.Product, clearance: int) -> pb.ProductHolding:
    account_level = level_of("account_number", p.account_level)
    shown = clearance >= account_level
    return pb.ProductHolding(product_type=p.product_type, status=p.status or "",
                             account_number=(p.account_number or "") if shown else "",
                             account_masked=not shown and bool(p.account_number),
                             data_level=level_of("product_type", p.level),
                             account_data_level=account_level)


def _consent(c: contract.Consent) -> pb.Consent:
    return pb.Consent(purpose=c.purpose, channel=c.channel, granted=c.status == "granted",
                      source=c.source or "", at_ms=c.at)


def _traits(t: contract.Traits) -> pb.ComputedTraits:
    return pb.ComputedTraits(
        contacts_30d_by_channel=t.contacts_30d_by_channel,
        last_contact_reason=t.last_contact_reason or "", open_complaints=t.open_complaints,
        days_since_last_complaint=(t.days_since_last_complaint
                                   if t.days_since_last_complaint is not None else -1),
        last_complaint_at_ms=t.last_complaint_at or 0,
        preferred_channel=CHANNELS.get(t.preferred_channel or "", pb.CHANNEL_UNSPECIFIED))


def summary(profile: contract.Profile, clearance: int) -> pb.ProfileSummary:
    """The ProfileSummary a caller cleared for data levels up to ``clearance`` may see."""
    out = pb.ProfileSummary(
        first_seen_ms=profile.first_seen or 0, last_seen_ms=profile.last_seen or 0,
        channels=[CHANNELS.get(c, pb.CHANNEL_UNSPECIFIED) for c in profile.channels],
        attributes=[_attribute(a, clearance) for a in profile.attributes])
    out.products.extend(_product(p, clearance) for p in profile.products
                        if clearance >= level_of("product_type", p.level))
    if clearance >= level_of("consent"):
        out.consents.extend(_consent(c) for c in profile.consents)
        out.consent_history.extend(_consent(c) for c in profile.consent_history)
    else:
        out.consents_masked = bool(profile.consents or profile.consent_history)
    if profile.traits is not None:
        if clearance >= level_of("traits", profile.traits.level):
            out.traits.CopyFrom(_traits(profile.traits))
        else:
            out.traits_masked = True
    return out
