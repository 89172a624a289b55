"""The room a unit of work is confined to: a room is the boundary for everything about a case.

A unit of work that handles an event is scoped to that event's room
(:meth:`storage.uow.UnitOfWork.in_room`). From then on every repository lookup of a
case, request, series, session, agenda, poll or sitting answers only with rows of that
room; a row of another room reads exactly like one that does not exist. Unscoped
units of work (the timed runner acting on one row, the operator's CLI) see all rows.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement, Select, select, true

from storage.models import CaseFile, KnownRoom


@dataclass
class Scope:
    room: str | None = None

    def where(self, column: Any) -> ColumnElement[bool]:
        """``column == room`` when scoped, else no condition."""
        if self.room is None:
            return true()
        result: ColumnElement[bool] = column == self.room
        return result

    def case_filter(self, pseudonym_column: Any) -> ColumnElement[bool]:
        """The row's case belongs to the room (when scoped)."""
        if self.room is None:
            return true()
        # Correlated EXISTS: one primary-key lookup per row, not the room's whole case
        # list materialised for an IN (which grew with the room: 10 000 cases, 10 000 ids).
        result: ColumnElement[bool] = (
            select(CaseFile.pseudonym)
            .where(CaseFile.pseudonym == pseudonym_column, CaseFile.room_id == self.room)
            .exists()
        )
        return result

    def visible(self, row_room: str | None) -> bool:
        return self.room is None or row_room == self.room


def left_rooms() -> Select[Any]:
    """Rooms the bot has left: their timed jobs wait until it re-joins."""
    return select(KnownRoom.room_id).where(KnownRoom.left_at.is_not(None))
