"""What a use case works with: the unit of work, who acts, when, and the calendar.

A command builds it from its chat context (:attr:`commands.framework.CommandContext.work`);
the timed runner builds one for the system actor. Use cases never see chat or Matrix.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from domain.calendar import Calendar
from storage.uow import UnitOfWork

SYSTEM_ACTOR = "fkbot"  # the actor of timed work in the audit trail


@dataclass(frozen=True)
class Work:
    uow: UnitOfWork
    actor: str  # a Matrix user id, or SYSTEM_ACTOR
    institution: str | None  # the actor's institution key
    now: datetime
    calendar: Calendar


def audit(work: Work, action: str, pseudonym: str | None, **detail: Any) -> None:
    """One audit entry for ``action`` by the work's actor; ids and pseudonyms only."""
    work.uow.audit.append(
        at=work.now,
        actor=work.actor,
        institution=work.institution,
        action=action,
        pseudonym=pseudonym,
        detail={k: v for k, v in detail.items() if v is not None},
    )
