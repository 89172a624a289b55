"""Placement: which ready request goes into which session. Pure; tested by properties.

Requests are taken urgent first, then in the order they were made. Each goes into
the earliest session that (1) lies in the future, (2) is not after the request's
latest date, (3) still has a free place and (4) for which the consent gate (or a
confirmed Schutzauftrag) allows the case *on that session's date*. A request that
fits nowhere gets the reason, for the moderators.

Invariants (tests/unit/test_placement.py): never over capacity, never after the
latest date, never a session whose date the gate refuses, urgent before regular,
and a request is placed at most once.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import date, datetime

from domain.dates import local_date
from domain.text import N_

# Why a request fits no session: catalog msgids, shown with ``t.gettext(reason)``.
NO_SESSION = N_("kein Termin")
NO_SESSION_IN_TIME = N_("kein Termin vor dem spätesten Datum")
ALL_FULL = N_("alle Termine bis zum spätesten Datum sind voll")
NOT_CONSENTED = N_("die Einwilligung deckt keinen freien Termin ab")


@dataclass(frozen=True)
class OpenSession:
    id: int
    starts_at: datetime  # aware
    capacity: int
    taken: int = 0

    @property
    def day(self) -> date:
        return local_date(self.starts_at)


@dataclass(frozen=True)
class Candidate:
    id: int
    urgent: bool
    requested_at: datetime
    latest: date | None = None


@dataclass(frozen=True)
class Placement:
    assigned: dict[int, int] = field(default_factory=dict)  # request id → session id
    # request id → reason: one of the msgids above (German), translated where shown
    unplaced: dict[int, str] = field(default_factory=dict)


Allowed = Callable[[int, date], bool]  # (request id, session day) → may the case be discussed


def place(
    candidates: Iterable[Candidate],
    sessions: Iterable[OpenSession],
    allowed: Allowed,
    now: datetime,
) -> Placement:
    order = sorted(candidates, key=lambda c: (not c.urgent, c.requested_at, c.id))
    future = sorted((s for s in sessions if s.starts_at > now), key=lambda s: (s.starts_at, s.id))
    free = {s.id: s.capacity - s.taken for s in future}
    result = Placement()
    for candidate in order:
        in_time = [s for s in future if candidate.latest is None or s.day <= candidate.latest]
        with_room = [s for s in in_time if free[s.id] > 0]
        chosen = next((s for s in with_room if allowed(candidate.id, s.day)), None)
        if chosen is not None:
            result.assigned[candidate.id] = chosen.id
            free[chosen.id] -= 1
        elif not in_time:
            reason = NO_SESSION_IN_TIME if candidate.latest else NO_SESSION
            result.unplaced[candidate.id] = reason
        elif not with_room:
            result.unplaced[candidate.id] = ALL_FULL
        else:
            result.unplaced[candidate.id] = NOT_CONSENTED
    return result
