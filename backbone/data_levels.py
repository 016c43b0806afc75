"""Data levels of the profile attributes from the systems of record (JR/T 0197-2020).

JR/T 0171-2020 classes personal financial information C1 (low sensitivity), C2 (identity
and account data) and C3 (authentication data, never stored here); JR/T 0197-2020 maps
them to data levels 2, 3 and 4. Level 1 is what the bank may show to anyone serving the
customer (a preferred language). Sensitive personal information under PIPL (the
vulnerable-customer flag: age, health, hardship) is treated as level 3.

The processors stamp every attribute of a snapshot with its level; the context service
shows a value only to roles cleared for it (services/context/auth.py ``CLEARANCE``), and
takes the higher of the stamped and the catalogued level, so a wrong stamp cannot leak.
"""

from __future__ import annotations

# attribute name -> JR/T 0197 data level
LEVELS: dict[str, int] = {
    "preferred_language": 1,
    "preferred_channel": 1,
    "tier": 2,                # private banking / VIP: derived from assets (C1 -> level 2)
    "segment": 2,
    "product_type": 2,        # what the customer holds, without any number
    "account_number": 3,      # masked display form only (C2 -> level 3)
    "vulnerable": 3,          # sensitive personal information (PIPL art. 28)
    "consent": 2,
    "traits": 1,              # computed from the service log the context shows already
}
HIGHEST = 4


def level_of(name: str, stamped: int | None = None) -> int:
    """The level a reader must be cleared for: the catalogue's, or the stamped one when
    higher; an attribute nobody catalogued is the highest level (fail closed)."""
    catalogued = LEVELS.get(name, HIGHEST)
    return max(catalogued, stamped or 0)
