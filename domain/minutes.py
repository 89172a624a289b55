"""The minutes (Protokoll) of a held session as plain data, built once, rendered many ways.

:func:`commands.protokoll.collect` reads a session's sitting, attendance and every
outcome recorded in it from the database into a :class:`Minutes` value; the room
message (:func:`commands.protokoll.render_minutes`) and the Markdown, PDF and JSON
exports (:mod:`commands.export`) are all rendered from that one value, so they cannot
disagree. Only pseudonyms, institution names, Matrix ids of staff and guarded decision
texts appear.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime


@dataclass(frozen=True)
class Presence:
    """One institution at the session: who was there, or that it sent apologies."""

    institution: str  # display name
    present: tuple[str, ...]  # Matrix ids of people who said "anwesend" or reacted ✋
    excused: bool


@dataclass(frozen=True)
class TaskLine:
    owner: str  # Matrix id
    institution: str  # display name of the owner's institution
    text: str
    due: date | None


@dataclass(frozen=True)
class Item:
    """One agenda item (case) and what the conference recorded for it."""

    pseudonym: str
    topic: str
    requested_by: str  # institution display name
    participants: tuple[str, ...]  # institution display names
    schutzauftrag: bool
    decisions: tuple[str, ...]
    lotse: str | None  # "@user:server (Institution)"
    tasks: tuple[TaskLine, ...]
    review: date | None  # Wiedervorlage
    carried: str | None  # reason if carried over ("nicht behandelt" or the given reason)
    carried_to: str | None  # "Termin #12 am Mi 13.01.2027 10:00", or None if no session yet
    closed: bool  # erledigt in this session


@dataclass(frozen=True)
class Minutes:
    session_id: int
    name: str
    starts_at: datetime  # aware
    opened_at: datetime
    closed_at: datetime | None
    opened_by: str
    presence: tuple[Presence, ...]
    quorum: int  # institutions required
    items: tuple[Item, ...]
    confirmed_by: str | None
    confirmed_at: datetime | None

    @property
    def institutions_present(self) -> int:
        return sum(1 for p in self.presence if p.present)

    @property
    def quorum_met(self) -> bool:
        return self.institutions_present >= self.quorum
