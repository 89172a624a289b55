"""The minutes (Protokoll) of a held session as plain data, built once, rendered many ways.

:func:`commands.protokoll.collect` reads a session's sitting, attendance and every
outcome recorded in it from the database into a :class:`Minutes` value; the room
message (:func:`commands.protokoll.render_minutes`) and the Markdown, PDF and JSON
exports (:mod:`commands.export`) are all rendered from that one value, so they cannot
disagree. Only pseudonyms, institution names, Matrix ids of staff and guarded decision
texts appear.

The value holds no wording of its own: dates, the session an item was carried over to
and every label are rendered in the language of the room (or export) that shows it.
The one text the bot itself records, the reason :data:`NOT_HANDLED` for items a sitting
did not reach, is translated where it is shown (:func:`carried_reason`).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Final, Protocol

from domain.text import N_, Translator


class Texts(Translator, Protocol):
    """What the renderings need of a language (commands.i18n.Texts)."""

    def when(self, moment: datetime) -> str: ...


# The reason recorded when a sitting ends before an item was discussed (sitting.py).
NOT_HANDLED: Final = N_("nicht behandelt")


def carried_reason(reason: str, t: Translator) -> str:
    """A carry-over reason as shown: the bot's own :data:`NOT_HANDLED` in ``t``'s
    language, a reason the moderation typed exactly as typed."""
    return t.gettext(reason) if reason == NOT_HANDLED else reason


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
class SessionRef:
    """The session an item was carried over to; shown as "Termin #13 am Mi 13.01.2027
    10:00" in the reader's language."""

    session_id: int
    starts_at: datetime  # aware


def target_text(target: SessionRef, t: Texts) -> str:
    """``Termin #13 am Mi 13.01.2027 10:00`` in ``t``'s language."""
    return t.gettext(
        N_("Termin #%(id)s am %(when)s"), id=target.session_id, when=t.when(target.starts_at)
    )


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
    carried_to: SessionRef | None  # the target session, or None if there is none yet
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
