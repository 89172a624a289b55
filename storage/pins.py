"""Queries for pinned master keys (see bot/trust.py)."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from storage.models import IdentityPin


class PinRepository:
    def __init__(self, session: Session) -> None:
        self._s = session

    def for_users(self, user_ids: Iterable[str]) -> dict[str, IdentityPin]:
        users = list(user_ids)
        if not users:
            return {}
        rows = self._s.scalars(select(IdentityPin).where(IdentityPin.user_id.in_(users)))
        return {r.user_id: r for r in rows}

    def get(self, user_id: str) -> IdentityPin | None:
        return self._s.get(IdentityPin, user_id)

    def pin(self, user_id: str, master_key: str, now: datetime) -> None:
        if self._s.get(IdentityPin, user_id) is None:
            self._s.add(IdentityPin(user_id=user_id, master_key=master_key, pinned_at=now))
            self._s.flush()

    def saw(self, user_id: str, master_key: str, now: datetime) -> None:
        row = self._s.get(IdentityPin, user_id)
        if row is not None:
            row.seen_key, row.seen_at = master_key, now

    def accept(self, user_id: str, now: datetime) -> str | None:
        """Trust the key seen since the pin; returns it, or None if nothing is waiting."""
        row = self._s.get(IdentityPin, user_id)
        if row is None or row.seen_key is None:
            return None
        row.master_key, row.pinned_at = row.seen_key, now
        row.seen_key, row.seen_at = None, None
        return row.master_key
