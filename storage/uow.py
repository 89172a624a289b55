"""Unit of work: one transaction, rolled back unless explicitly committed."""

from __future__ import annotations

from types import TracebackType
from typing import Self

from sqlalchemy import Engine, event
from sqlalchemy.orm import Session, sessionmaker

from storage.agendas import AgendaRepository, PollRepository
from storage.audit import AuditLog
from storage.cases import CaseRepository, RoleSnapshotRepository
from storage.outcomes import OutcomeRepository
from storage.pins import PinRepository
from storage.repositories import (
    InboxRepository,
    OutboxRepository,
    PendingDecryptionRepository,
    QuarantineRepository,
    SyncRepository,
)
from storage.scope import Scope
from storage.sessions import SessionRepository


class UnitOfWork:
    """``with uow_factory() as uow: ...; uow.commit()`` — nothing is written without commit."""

    session: Session
    sync: SyncRepository
    inbox: InboxRepository
    outbox: OutboxRepository
    pending: PendingDecryptionRepository
    cases: CaseRepository
    audit: AuditLog
    role_snapshots: RoleSnapshotRepository
    pins: PinRepository
    sessions: SessionRepository
    agendas: AgendaRepository
    polls: PollRepository
    outcomes: OutcomeRepository
    quarantine: QuarantineRepository

    def __init__(self, session_factory: sessionmaker[Session]) -> None:
        self._factory = session_factory
        self.touched: set[str] = set()  # tables written in this unit of work
        self.scope = Scope()

    def in_room(self, room_id: str | None) -> None:
        """Confine every later lookup to ``room_id`` (None: see every room, for the
        timed runner and the operator). The engine scopes before each event."""
        self.scope.room = room_id

    @property
    def room(self) -> str | None:
        return self.scope.room

    def _note_flush(self, session: Session, _context: object) -> None:
        for row in (*session.new, *session.dirty, *session.deleted):
            self.touched.add(getattr(row, "__tablename__", ""))

    def __enter__(self) -> Self:
        self.session = self._factory()
        event.listen(self.session, "before_flush", self._note_flush_before)
        self.sync = SyncRepository(self.session)
        self.inbox = InboxRepository(self.session)
        self.outbox = OutboxRepository(self.session)
        self.pending = PendingDecryptionRepository(self.session)
        self.cases = CaseRepository(self.session, self.scope)
        self.audit = AuditLog(self.session, self.scope)
        self.role_snapshots = RoleSnapshotRepository(self.session)
        self.pins = PinRepository(self.session)
        self.sessions = SessionRepository(self.session, self.scope)
        self.agendas = AgendaRepository(self.session, self.scope)
        self.polls = PollRepository(self.session, self.scope)
        self.outcomes = OutcomeRepository(self.session, self.scope)
        self.quarantine = QuarantineRepository(self.session)
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        # close() rolls back whatever was not committed; objects stay readable.
        self.session.close()

    def _note_flush_before(self, session: Session, context: object, _instances: object) -> None:
        self._note_flush(session, context)

    def commit(self) -> None:
        self.session.commit()

    def savepoint(self) -> Savepoint:
        return Savepoint(self.session)


class Savepoint:
    """A nested transaction: a failing command rolls back only its own writes."""

    def __init__(self, session: Session) -> None:
        self._session = session

    def __enter__(self) -> Self:
        self._tx = self._session.begin_nested()
        self._discard = False
        return self

    def discard(self) -> None:
        """Roll back this savepoint's writes on exit even though no exception was raised."""
        self._discard = True

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if exc_type is None and not self._discard:
            self._tx.commit()
        else:
            self._tx.rollback()


class Database:
    """Owns the engine's session factory; hands out units of work."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._factory = sessionmaker(engine, expire_on_commit=False)

    def uow(self) -> UnitOfWork:
        return UnitOfWork(self._factory)
