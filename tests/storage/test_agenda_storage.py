"""Agendas (AgendaRepository) and availability polls (PollRepository) on both databases.

Rows are written in one unit of work and read back in another; a unit of work confined
to a room (``uow.in_room``) must not see another room's agenda or poll, not even by the
event id of its posted message.
"""

from __future__ import annotations

from datetime import timedelta

import pytest

from bot.testing.rows import (
    CASE_A,
    CASE_B,
    JA,
    JC,
    MOD,
    ROOM_A,
    ROOM_B,
    T0,
    add_case,
    add_request,
    add_sent,
    add_session,
    leave,
    poll,
)
from storage.models import Agenda, Poll, PollBallot
from storage.uow import Database, UnitOfWork


def _agenda(uow: UnitOfWork, room_id: str = ROOM_A, **fields: object) -> Agenda:
    """A session of ``room_id`` and its agenda row, with ``fields`` set."""
    session = add_session(uow, room_id)
    agenda = uow.agendas.ensure(session.id, room_id)
    for name, value in fields.items():
        setattr(agenda, name, value)
    uow.session.flush()
    return agenda


def _poll(uow: UnitOfWork, room_id: str = ROOM_A, **fields: object) -> Poll:
    """A poll for a new request of a case in ``room_id``."""
    pseudonym = CASE_A if room_id == ROOM_A else CASE_B
    if uow.cases.get(pseudonym) is None:
        add_case(uow, pseudonym, room_id)
    request = add_request(uow, pseudonym)
    row = poll(request.id, room_id, **fields)
    uow.polls.add(row)
    return row


def _ballot(poll_id: int, event_id: str, voter: str, minutes: int) -> PollBallot:
    return PollBallot(
        poll_id=poll_id,
        voter=voter,
        event_id=event_id,
        selections=["1"],
        voted_at=T0 + timedelta(minutes=minutes),
    )


# -- agendas --------------------------------------------------------------------------------


def test_an_agenda_row_is_created_once_with_its_defaults(database: Database) -> None:
    with database.uow() as uow:
        session = add_session(uow)
        assert uow.agendas.get(session.id) is None  # nothing posted or confirmed yet
        created = uow.agendas.ensure(session.id, ROOM_A)
        assert uow.agendas.ensure(session.id, ROOM_A) is created
        uow.commit()
    with database.uow() as uow:
        back = uow.agendas.get(session.id)
        assert back is not None
        assert (back.room_id, back.revision, back.edits) == (ROOM_A, 0, 0)
        assert (back.dirty, back.reconfirm_notice, back.refused_reactors) == (False, False, [])
        assert (back.confirmed_revision, back.post_txn_id) == (None, None)
        assert not back.confirmed
        assert uow.session.query(Agenda).count() == 1


def test_an_agenda_of_another_room_is_not_visible_in_a_confined_unit_of_work(
    database: Database,
) -> None:
    with database.uow() as uow:
        mine, theirs = _agenda(uow, ROOM_A), _agenda(uow, ROOM_B)
        uow.commit()
    with database.uow() as uow:
        uow.in_room(ROOM_A)
        assert uow.agendas.get(mine.session_id) is not None
        assert uow.agendas.get(theirs.session_id) is None
        assert uow.agendas.touch(theirs.session_id) is False  # as if it did not exist
        uow.commit()
    with database.uow() as uow:
        untouched = uow.agendas.get(theirs.session_id)
        assert untouched is not None
        assert untouched.revision == 0


def test_touching_a_draft_only_counts_the_revision(database: Database) -> None:
    with database.uow() as uow:
        agenda = _agenda(uow)
        assert uow.agendas.touch(agenda.session_id) is False
        uow.commit()
    with database.uow() as uow:
        back = uow.agendas.get(agenda.session_id)
        assert back is not None
        assert (back.revision, back.dirty, back.reconfirm_notice) == (1, False, False)
        assert uow.agendas.touch(agenda.session_id + 1000) is False  # no agenda at all


def test_touching_a_posted_confirmed_agenda_unlocks_it_and_marks_the_edit(
    database: Database,
) -> None:
    with database.uow() as uow:
        agenda = _agenda(
            uow,
            revision=2,
            confirmed_revision=2,
            confirmed_by=MOD,
            confirmed_at=T0,
            post_txn_id="agenda-1",
            posted_at=T0,
        )
        assert agenda.confirmed
        assert uow.agendas.touch(agenda.session_id) is True
        uow.commit()
    with database.uow() as uow:
        back = uow.agendas.get(agenda.session_id)
        assert back is not None
        assert (back.revision, back.dirty, back.reconfirm_notice) == (3, True, True)
        assert not back.confirmed
        # Touched again: it was no longer confirmed, so nothing more is unlocked.
        assert uow.agendas.touch(agenda.session_id) is False


def test_touching_a_confirmed_agenda_not_yet_posted_needs_no_edit(database: Database) -> None:
    with database.uow() as uow:
        agenda = _agenda(uow, revision=1, confirmed_revision=1, confirmed_by=MOD)
        assert uow.agendas.touch(agenda.session_id) is True
        assert (agenda.revision, agenda.dirty, agenda.reconfirm_notice) == (2, False, False)


def test_the_posted_agenda_is_found_by_its_event_once_acknowledged(database: Database) -> None:
    with database.uow() as uow:
        agenda = _agenda(uow, post_txn_id="agenda-a")
        other = _agenda(uow, ROOM_B, post_txn_id="agenda-b")
        add_sent(uow, "agenda-a", ROOM_A, None)  # queued, not acknowledged yet
        add_sent(uow, "agenda-b", ROOM_B, "$tagesordnung-b")
        uow.commit()
    with database.uow() as uow:
        assert uow.agendas.posted_event(agenda) is None
        assert uow.agendas.by_event("$tagesordnung-a") is None
        message = uow.outbox.all()[0]
        uow.outbox.mark_sent(message.id, "$tagesordnung-a", T0)
        uow.commit()
    with database.uow() as uow:
        assert uow.agendas.posted_event(agenda) == "$tagesordnung-a"
        found = uow.agendas.by_event("$tagesordnung-a")
        assert found is not None
        assert found.session_id == agenda.session_id
        assert uow.agendas.posted_event(_agenda(uow)) is None  # never posted
        uow.in_room(ROOM_A)
        assert uow.agendas.by_event("$tagesordnung-b") is None
        uow.in_room(ROOM_B)
        found_b = uow.agendas.by_event("$tagesordnung-b")
        assert found_b is not None
        assert found_b.session_id == other.session_id


def test_an_event_in_another_room_does_not_name_the_agenda(database: Database) -> None:
    # The outbox row with the agenda's txn id was sent to another room: not its message.
    with database.uow() as uow:
        _agenda(uow, ROOM_A, post_txn_id="agenda-x")
        add_sent(uow, "agenda-x", ROOM_B, "$fremd")
        uow.commit()
    with database.uow() as uow:
        assert uow.agendas.by_event("$fremd") is None


def test_dirty_agendas_in_session_order_without_left_rooms(database: Database) -> None:
    with database.uow() as uow:
        first = _agenda(uow, ROOM_A, dirty=True)
        _agenda(uow, ROOM_A, dirty=False)
        gone = _agenda(uow, ROOM_B, dirty=True)
        second = _agenda(uow, ROOM_A, dirty=True)
        uow.commit()
    with database.uow() as uow:
        assert [a.session_id for a in uow.agendas.dirty()] == [
            first.session_id,
            gone.session_id,
            second.session_id,
        ]
        leave(uow, ROOM_B)
        uow.commit()
    with database.uow() as uow:
        assert [a.session_id for a in uow.agendas.dirty()] == [
            first.session_id,
            second.session_id,
        ]


# -- polls ----------------------------------------------------------------------------------


def test_a_poll_is_stored_and_read_back(database: Database) -> None:
    with database.uow() as uow:
        row = _poll(uow)
        uow.commit()
    with database.uow() as uow:
        back = uow.polls.get(row.id)
        assert back is not None
        assert back.slots == ["2026-12-01T09:00:00+00:00", "2026-12-02T13:00:00+00:00"]
        assert (back.state, back.max_selections, back.created_at) == ("offen", 2, T0)
        assert (back.closed_by, back.closed_at, back.chosen, back.session_id) == (
            None,
            None,
            None,
            None,
        )
        assert uow.polls.get(row.id + 1000) is None


def test_a_poll_of_another_room_is_not_visible_in_a_confined_unit_of_work(
    database: Database,
) -> None:
    with database.uow() as uow:
        mine, theirs = _poll(uow, ROOM_A), _poll(uow, ROOM_B)
        uow.commit()
    with database.uow() as uow:
        uow.in_room(ROOM_A)
        assert uow.polls.get(mine.id) is not None
        assert uow.polls.get(theirs.id) is None
        assert uow.polls.open_for(theirs.request_id) is None
        assert [p.id for p in uow.polls.open_polls()] == [mine.id]
    with database.uow() as uow:
        assert [p.id for p in uow.polls.open_polls()] == [mine.id, theirs.id]


def test_a_poll_is_found_by_the_event_of_its_start_message(database: Database) -> None:
    with database.uow() as uow:
        mine = _poll(uow, ROOM_A, txn_id="umfrage-a")
        _poll(uow, ROOM_B, txn_id="umfrage-b")
        add_sent(uow, "umfrage-a", ROOM_A, "$start-a")
        add_sent(uow, "umfrage-b", ROOM_B, "$start-b")
        unsent = _poll(uow, ROOM_A, txn_id="umfrage-c")
        uow.commit()
    with database.uow() as uow:
        found = uow.polls.by_event("$start-a")
        assert found is not None
        assert found.id == mine.id
        assert uow.polls.start_event(mine) == "$start-a"
        assert uow.polls.start_event(unsent) is None
        assert uow.polls.by_event("$unbekannt") is None
        uow.in_room(ROOM_A)
        assert uow.polls.by_event("$start-b") is None


def test_open_for_finds_only_the_open_poll_of_a_request(database: Database) -> None:
    with database.uow() as uow:
        closed = _poll(uow, state="geschlossen", txn_id="alt")
        request_id = closed.request_id
        assert uow.polls.open_for(request_id) is None
        reopened = poll(request_id, ROOM_A, txn_id="neu")
        uow.polls.add(reopened)
        uow.commit()
    with database.uow() as uow:
        found = uow.polls.open_for(request_id)
        assert found is not None
        assert found.id == reopened.id


def test_a_vote_event_is_counted_once_and_ballots_come_in_voting_order(
    database: Database,
) -> None:
    with database.uow() as uow:
        row = _poll(uow)
        assert uow.polls.add_ballot(_ballot(row.id, "$stimme-2", JC, minutes=5))
        assert uow.polls.add_ballot(_ballot(row.id, "$stimme-1", JA, minutes=1))
        # The same event again (a redelivered sync): not counted twice.
        assert not uow.polls.add_ballot(_ballot(row.id, "$stimme-1", JA, minutes=1))
        # Same time: the one stored first comes first.
        assert uow.polls.add_ballot(_ballot(row.id, "$stimme-3", MOD, minutes=5))
        uow.commit()
    with database.uow() as uow:
        assert [b.event_id for b in uow.polls.ballots(row.id)] == [
            "$stimme-1",
            "$stimme-2",
            "$stimme-3",
        ]
        assert uow.polls.ballots(row.id + 1000) == []


@pytest.mark.parametrize(
    ("chosen", "state"), [("2", "geschlossen"), (None, "ohne_ergebnis")], ids=["chosen", "none"]
)
def test_closing_a_poll_records_who_when_and_what(
    database: Database, chosen: str | None, state: str
) -> None:
    with database.uow() as uow:
        row = _poll(uow)
        other = _poll(uow)
        uow.polls.close(row, MOD, T0 + timedelta(days=2), chosen)
        uow.commit()
    with database.uow() as uow:
        back = uow.polls.get(row.id)
        assert back is not None
        assert (back.state, back.closed_by, back.closed_at, back.chosen) == (
            state,
            MOD,
            T0 + timedelta(days=2),
            chosen,
        )
        assert [p.id for p in uow.polls.open_polls()] == [other.id]
        assert uow.polls.open_for(row.request_id) is None
