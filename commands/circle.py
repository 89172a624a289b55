"""Per-room settings of a conference circle: who takes part, who moderates, its calendar.

Optional: a room without an entry uses the global institutions, moderation and
calendar. Pure data, built once from the configuration.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from domain.calendar import Calendar
from domain.org import Member, Organisation, Role, canonical_user_id


@dataclass(frozen=True)
class RoomPolicy:
    # Only members of these institutions act on cases in this room (None: every
    # configured institution). Someone of another institution is a guest there.
    institutions: frozenset[str] | None = None
    moderators: frozenset[str] = field(default_factory=frozenset)  # in addition to global
    calendar: Calendar | None = None

    def member(self, org: Organisation, user_id: str, power_level: int) -> Member:
        member = org.member(user_id, power_level)
        if (
            self.institutions is not None
            and member.institution is not None
            and member.institution.key not in self.institutions
        ):
            # A guest: no case data, no moderation; an admin stays an admin.
            return Member(user_id, None, member.roles & {Role.ADMIN})
        if canonical_user_id(user_id) in self.moderators and member.institution is not None:
            return Member(user_id, member.institution, member.roles | {Role.MODERATION})
        return member


@dataclass(frozen=True)
class Circles:
    """The per-room policies; ``policy(room)`` is the default for rooms not listed."""

    rooms: Mapping[str, RoomPolicy] = field(default_factory=dict)

    def policy(self, room_id: str) -> RoomPolicy:
        return self.rooms.get(room_id, RoomPolicy())
