"""Holding a session end to end: open, attendance, outcomes, carry-over, close, minutes.

Commands and reactions go through ``Engine.ingest`` (the :class:`Room` harness), timed
work through ``ReminderRunner.run_due``, both on a real database (SQLite and
PostgreSQL) and one fake clock. ``Room.ack`` plays the homeserver acknowledging the
opening message and the minutes, so ✋ and ✅ reactions can point at them. Every test
checks the rows and audit entries behind what the bot says.

The clock starts on Monday 23.11.2026, 10:00 in Berlin; the usual session is an ad-hoc
one on Thursday 26.11.2026 at 10:00, and the conference is held at 10:30 that day.
"""

from __future__ import annotations

import base64
import io
import json
import re
from datetime import UTC, date, datetime, timedelta
from typing import Any, TypeVar

import pytest
from pypdf import PdfReader
from sqlalchemy import inspect, select

from bot.clock import FakeClock
from bot.engine import MAX_TEXT_BYTES
from bot.ids import UserId
from bot.testing.harness import (
    AA,
    ADMIN,
    AGENTUR,
    JA1,
    JA2,
    JC,
    JOBCENTER,
    JUGENDAMT,
    MOD,
    NOBODY,
    PREFIX,
    Room,
    items_after,
    utc,
)
from bot.txn import txn_id_for
from bot.upload import UPLOAD_KEY
from commands.sitting import HAND_KEY
from domain.calendar import Calendar
from domain.dates import LOCAL_TZ
from storage.audit import verify
from storage.models import (
    Attendance,
    Carryover,
    CaseFile,
    CaseReminder,
    Decision,
    InboxEvent,
    Navigator,
    OutboxMessage,
    Review,
    Revocation,
    Sitting,
    Task,
)
from storage.uow import Database

T = TypeVar("T")

MODERATORS = [ADMIN, MOD]  # configured moderation (an admin may moderate too)
THURSDAY = "26.11.2026 10:00"
DURING = utc("26.11.2026", "09:30")  # 10:30 in Berlin: the session of THURSDAY runs
OPENING = "$eroeffnung"  # the opening message as the homeserver acknowledged it
MINUTES = "$protokoll"  # the minutes as the homeserver acknowledged them
ITEM_HEADER = re.compile(r"^(FK-\S+) – ", re.MULTILINE)


@pytest.fixture
def clock() -> FakeClock:
    # Monday 23.11.2026, 10:00 in Berlin (winter time, UTC+1).
    return FakeClock(datetime(2026, 11, 23, 9, 0, tzinfo=UTC))


@pytest.fixture
def room(database: Database, clock: FakeClock) -> Room:
    return Room(database, clock)


# -- helpers ----------------------------------------------------------------------------------


def last_event_id(room: Room) -> str:
    """The event id of the command or reaction the room handled last."""
    with room.db.uow() as uow:
        row = uow.session.scalars(
            select(InboxEvent).order_by(InboxEvent.received_at.desc())
        ).first()
        assert row is not None
        return row.event_id


def send(room: Room, sender: UserId, command: str) -> tuple[str, str]:
    """Like ``Room.say``, but also the command's event id."""
    body = room.say(sender, command)
    return last_event_id(room), body


def reply_row(room: Room, event_id: str, purpose: str = "reply") -> OutboxMessage:
    with room.db.uow() as uow:
        return uow.session.scalars(
            select(OutboxMessage).where(OutboxMessage.txn_id == txn_id_for(event_id, purpose))
        ).one()


def table(room: Room, model: type[T]) -> list[T]:
    """Every row of ``model``, in primary-key order."""
    with room.db.uow() as uow:
        keys = inspect(model).primary_key
        return list(uow.session.scalars(select(model).order_by(*keys)))


def tail(room: Room, start: int) -> list[tuple[str, str, str | None, dict[str, Any]]]:
    return [(e.action, e.actor, e.pseudonym, e.detail) for e in room.audit()[start:]]


def sitting(room: Room, session_id: int) -> Sitting:
    with room.db.uow() as uow:
        found = uow.outcomes.sitting(session_id)
        assert found is not None
        return found


def request_state(room: Room, request_id: int) -> str:
    with room.db.uow() as uow:
        found = uow.cases.request(request_id)
        assert found is not None
        return found.state


def case_reminders(room: Room) -> list[tuple[int, str, int, datetime, str]]:
    return [
        (r.review_id, r.kind, r.offset_minutes, r.due_at, r.state)
        for r in sorted(table(room, CaseReminder), key=lambda r: (r.review_id, r.due_at))
    ]


def attendance(room: Room) -> list[tuple[int, str, str, str]]:
    return [(a.session_id, a.institution, a.user_id, a.kind) for a in table(room, Attendance)]


def reviews(room: Room) -> list[tuple[int, str, date, str, datetime | None]]:
    return [(r.id, r.case_pseudonym, r.due, r.state, r.closed_at) for r in table(room, Review)]


def refused(reply: str, text: str) -> None:
    assert reply.startswith("⚠️ "), reply
    assert text in reply, reply


def role_refusal(command: str) -> str:
    return f"⚠️ „{PREFIX} {command}“ ist der Rolle „moderation“ vorbehalten."


def planned(
    room: Room, count: int = 2, when: str = THURSDAY, **request: Any
) -> tuple[int, list[str], list[int]]:
    """An ad-hoc session with ``count`` ready cases on it."""
    session = room.adhoc(when)
    made = [room.ready_case(**request)[:2] for _ in range(count)]
    assert room.agenda_ids(session) == [r for _, r in made]
    return session, [p for p, _ in made], [r for _, r in made]


def opened(
    room: Room, count: int = 2, when: str = THURSDAY, at: datetime = DURING
) -> tuple[int, list[str], list[int], str]:
    """A session with ``count`` cases, opened on its day; the start command's event id."""
    session, cases, requests = planned(room, count, when)
    room.clock.set(at)
    event, reply = send(room, MOD, "sitzung start")
    assert reply.startswith(f"🟢 Sitzung eröffnet: Fallkonferenz – Termin #{session}, "), reply
    return session, cases, requests, event


def end(room: Room) -> tuple[str, str]:
    """``sitzung ende``; its event id and reply (the minutes)."""
    event, reply = send(room, MOD, "sitzung ende")
    assert "📝 Protokoll Fallkonferenz – Termin #" in reply, reply
    return event, reply


def revoke_behind_the_bots_back(room: Room, pseudonym: str) -> None:
    """A revocation from today on, stored without the replan a command runs after it."""
    with room.db.uow() as uow:
        uow.cases.add_revocation(
            Revocation(
                case_pseudonym=pseudonym,
                institutions=None,
                effective_on=room.clock.now().astimezone(LOCAL_TZ).date(),
                recorded_by=JA1,
                recorded_institution="jugendamt",
                recorded_at=room.clock.now(),
            )
        )
        uow.commit()


def item_lines(minutes: str, pseudonym: str) -> list[str]:
    return items_after(minutes, f"{pseudonym} – ")


def minutes_part(reply: str) -> str:
    """The minutes in the reply of ``sitzung ende`` (after the carry-over notice)."""
    return reply[reply.index("📝 Protokoll") :]


def audit_chain_ok(room: Room) -> bool:
    with room.db.uow() as uow:
        return verify(uow.audit.entries(), uow.audit.head()).ok


# -- sitzung start ----------------------------------------------------------------------------


def test_sitzung_start_opens_the_session_of_today_lists_the_agenda_and_audits(
    room: Room,
) -> None:
    session, cases, requests = planned(room, 2)
    room.clock.set(DURING)
    start = len(room.audit())

    event, reply = send(room, MOD, "sitzung start")

    assert reply.startswith(
        f"🟢 Sitzung eröffnet: Fallkonferenz – Termin #{session}, Do 26.11.2026 10:00."
    ), reply
    assert items_after(reply, "Tagesordnung (2 Fälle)") == [f"{p} – Ausbildung" for p in cases]
    assert reply.endswith(
        f"Anwesenheit: ✋ auf diese Nachricht oder `{PREFIX} anwesend`; Entschuldigungen: "
        f"`{PREFIX} entschuldigt <institution>`. Beschlussfähig ab 2 Institutionen."
    ), reply
    [row] = table(room, Sitting)
    assert (row.session_id, row.opened_by, row.opened_at, row.quorum) == (
        session,
        MOD,
        room.clock.now(),
        2,
    )
    assert (row.closed_at, row.minutes_txn_id, row.confirmed_at) == (None, None, None)
    # the opening message is the command's reply: ✋ on it marks attendance
    assert row.opening_txn_id == txn_id_for(event, "reply") == reply_row(room, event).txn_id
    # whoever opens the session is there
    assert attendance(room) == [(session, "jugendamt", MOD, "anwesend")]
    entries = tail(room, start)
    assert entries[0] == ("sitzung_eroeffnet", MOD, None, {"termin": session})
    assert entries[1:] in ([], [("anwesend", MOD, None, {"termin": session})]), entries
    assert room.agenda_ids(session) == requests
    assert room.session(session).state == "geplant"


def test_sitzung_start_by_number_picks_that_session(room: Room) -> None:
    session, _, _ = planned(room, 1)
    later = room.adhoc("26.11.2026 15:00")
    room.clock.set(DURING)

    reply = room.mod(f"sitzung start {later}")

    assert reply.startswith(f"🟢 Sitzung eröffnet: Fallkonferenz – Termin #{later}, "), reply
    assert "Tagesordnung (0 Fälle)" in reply
    assert [s.session_id for s in table(room, Sitting)] == [later]
    assert room.agenda_ids(session) != []  # the morning session stays as it was
    assert room.session(session).state == "geplant"


def test_sitzung_start_is_for_moderation_only(room: Room) -> None:
    planned(room, 1)
    room.clock.set(DURING)
    before = (room.snapshot(), table(room, Sitting), attendance(room))

    for sender in (JA1, JA2, JC, AA):
        assert room.say(sender, "sitzung start") == role_refusal("sitzung start"), sender
        assert room.last_inbox_outcome() == "user_error"
        assert (room.snapshot(), table(room, Sitting), attendance(room)) == before

    # an admin is moderation by configuration
    assert room.say(ADMIN, "sitzung start").startswith("🟢 Sitzung eröffnet")
    assert [s.opened_by for s in table(room, Sitting)] == [ADMIN]


@pytest.mark.parametrize(
    ("moment", "allowed"),
    [
        (utc("25.11.2026", "09:30"), False),  # the day before
        (utc("25.11.2026", "22:30"), False),  # 23:30 in Berlin, still the day before
        (utc("25.11.2026", "23:30"), True),  # 00:30 in Berlin on the day
        (utc("26.11.2026", "22:30"), True),  # 23:30 in Berlin on the day (after its end)
        (utc("26.11.2026", "23:30"), False),  # 00:30 in Berlin the day after
    ],
)
def test_sitzung_start_only_on_the_sessions_day_in_berlin(
    room: Room, moment: datetime, allowed: bool
) -> None:
    session, _, _ = planned(room, 1)
    room.clock.set(moment)
    start = len(room.audit())

    reply = room.mod(f"sitzung start {session}")

    if allowed:
        assert reply.startswith(f"🟢 Sitzung eröffnet: Fallkonferenz – Termin #{session}, ")
        assert [s.session_id for s in table(room, Sitting)] == [session]
        assert tail(room, start)[0] == ("sitzung_eroeffnet", MOD, None, {"termin": session})
    else:
        assert reply == (
            f"⚠️ Termin #{session} ist am Do 26.11.2026 10:00; eröffnet wird eine Sitzung "
            "an ihrem Tag."
        )
        assert table(room, Sitting) == []
        assert attendance(room) == []
        assert tail(room, start) == []


def test_sitzung_start_without_number_needs_a_session_today(room: Room) -> None:
    planned(room, 1)
    room.clock.set(utc("25.11.2026", "09:30"))

    reply = room.mod("sitzung start")

    refused(reply, "Heute ist hier kein Termin geplant.")
    assert table(room, Sitting) == []
    assert "sitzung_eroeffnet" not in room.actions()


def test_sitzung_start_refuses_while_a_sitting_runs_and_for_a_held_session(room: Room) -> None:
    first, _, _ = planned(room, 1)
    second = room.adhoc("26.11.2026 15:00")
    room.clock.set(DURING)
    room.mod("sitzung start")

    running = room.mod(f"sitzung start {second}")
    refused(running, f"Die Sitzung von Termin #{first} läuft noch.")
    again = room.mod(f"sitzung start {first}")
    refused(again, f"Die Sitzung von Termin #{first} läuft noch.")
    assert [s.session_id for s in table(room, Sitting)] == [first]

    end(room)
    held = room.mod(f"sitzung start {first}")
    assert held.startswith("⚠️ "), held
    assert [(s.session_id, s.closed_at is not None) for s in table(room, Sitting)] == [
        (first, True)
    ]
    assert room.actions().count("sitzung_eroeffnet") == 1

    # without a number the next session of today is opened, not the held one
    reply = room.mod("sitzung start")
    assert reply.startswith(f"🟢 Sitzung eröffnet: Fallkonferenz – Termin #{second}, "), reply
    assert [s.session_id for s in table(room, Sitting)] == [first, second]


def test_sitzung_start_takes_off_a_case_whose_consent_no_longer_covers_the_day(
    room: Room,
) -> None:
    session, (kept, gone), (kept_id, gone_id) = planned(room, 2)
    room.clock.set(DURING)
    revoke_behind_the_bots_back(room, gone)
    assert room.agenda_ids(session) == [kept_id, gone_id]  # the session has begun: no replan
    start = len(room.audit())

    reply = room.mod("sitzung start")

    assert (
        "Bei der Prüfung der Einwilligungen von der Tagesordnung genommen (nicht besprechen): "
        f"{gone}." in reply
    ), reply
    assert items_after(reply, "Tagesordnung (1 Fall)") == [f"{kept} – Ausbildung"]
    assert room.agenda_ids(session) == [kept_id]
    assert tail(room, start)[:2] == [
        (
            "agenda_entfernt",
            MOD,
            gone,
            {"anfrage": gone_id, "termin": session, "grund": "sitzungsbeginn"},
        ),
        ("sitzung_eroeffnet", MOD, None, {"termin": session}),
    ]
    assert request_state(room, gone_id) == "bereit"
    room.check_placements_audited()


# -- attendance -------------------------------------------------------------------------------


def test_anwesend_records_presence_once_and_counts_institutions(room: Room) -> None:
    session, _, _, _ = opened(room)  # the moderator (Jugendamt) who opened it is there
    start = len(room.audit())

    first = room.say(JA1, "anwesend")
    again = room.say(JA1, "anwesend")
    colleague = room.say(JA2, "anwesend")
    other = room.say(JC, "anwesend")

    assert first == (
        f"✋ {JA1} ({JUGENDAMT}) ist anwesend. Vertreten: 1 Institution – beschlussfähig ab 2."
    )
    assert again == first
    assert colleague == (
        f"✋ {JA2} ({JUGENDAMT}) ist anwesend. Vertreten: 1 Institution – beschlussfähig ab 2."
    )
    assert other == (
        f"✋ {JC} ({JOBCENTER}) ist anwesend. Vertreten: 2 Institutionen – beschlussfähig."
    )
    assert attendance(room) == [
        (session, "jugendamt", MOD, "anwesend"),
        (session, "jugendamt", JA1, "anwesend"),
        (session, "jugendamt", JA2, "anwesend"),
        (session, "jobcenter", JC, "anwesend"),
    ]
    assert tail(room, start) == [
        ("anwesend", user, None, {"termin": session}) for user in (JA1, JA2, JC)
    ]


def test_anwesend_needs_a_running_sitting_and_an_institution(room: Room) -> None:
    planned(room, 1)
    room.clock.set(DURING)
    refused(room.say(JA1, "anwesend"), "Es ist keine Sitzung eröffnet.")
    assert attendance(room) == []
    room.mod("sitzung start")
    before = (attendance(room), len(room.audit()))

    reply = room.say(NOBODY, "anwesend")

    assert reply.startswith("⚠️ Du bist keiner Institution zugeordnet"), reply
    assert (attendance(room), len(room.audit())) == before


def test_a_raised_hand_on_the_opening_message_marks_attendance_once(room: Room) -> None:
    session, _, _, event = opened(room)
    opening = txn_id_for(event, "reply")
    assert sitting(room, session).opening_txn_id == opening
    opener = attendance(room)
    assert opener == [(session, "jugendamt", MOD, "anwesend")]
    start = len(room.audit())

    assert room.react(JC, OPENING, HAND_KEY) == []  # not acknowledged yet: unknown to the bot
    assert attendance(room) == opener

    room.ack(opening, OPENING)
    first = room.react(JC, OPENING, HAND_KEY)
    room.react(JC, OPENING, HAND_KEY)  # a second ✋ (after taking the first back)
    assert room.react(NOBODY, OPENING, HAND_KEY) == []  # no institution: just a reaction
    assert room.react(JA1, "$irgendwas", HAND_KEY) == []  # not the opening message

    assert first == [
        f"✋ {JC} ({JOBCENTER}) ist anwesend. Vertreten: 2 Institutionen – beschlussfähig."
    ]
    assert attendance(room) == [*opener, (session, "jobcenter", JC, "anwesend")]
    assert tail(room, start) == [("anwesend", JC, None, {"termin": session})]

    end(room)
    closed = len(room.audit())
    assert room.react(JA1, OPENING, HAND_KEY) == []  # the sitting is over
    assert [a[2] for a in attendance(room)] == [MOD, JC]
    assert tail(room, closed) == []


def test_entschuldigt_for_the_own_institution_or_by_moderation(room: Room) -> None:
    session, _, _, _ = opened(room)
    opener = attendance(room)
    start = len(room.audit())

    own = room.say(AA, "entschuldigt agentur")
    by_moderation = room.mod("entschuldigt jobcenter")

    assert own == f"📝 {AGENTUR} ist für Termin #{session} entschuldigt."
    assert by_moderation == f"📝 {JOBCENTER} ist für Termin #{session} entschuldigt."
    assert attendance(room) == [
        *opener,
        (session, "agentur", AA, "entschuldigt"),
        (session, "jobcenter", MOD, "entschuldigt"),
    ]
    assert tail(room, start) == [
        ("entschuldigt", AA, None, {"termin": session, "institution": "agentur"}),
        ("entschuldigt", MOD, None, {"termin": session, "institution": "jobcenter"}),
    ]
    # a professional for their own institution, too
    assert room.say(JC, "entschuldigt JobCenter").startswith(f"📝 {JOBCENTER} ist ")
    assert attendance(room)[-1] == (session, "jobcenter", JC, "entschuldigt")


def test_entschuldigt_for_another_institution_is_refused(room: Room) -> None:
    opened(room)
    before = (attendance(room), len(room.audit()))

    for sender, institution, message in (
        (JC, "agentur", "Entschuldigen kann man die eigene Institution; andere die Moderation."),
        (JA1, "jobcenter", "Entschuldigen kann man die eigene Institution; andere die Moderation."),
        (AA, "jugendamt", "Entschuldigen kann man die eigene Institution; andere die Moderation."),
        (NOBODY, "agentur", "Du bist keiner Institution zugeordnet"),
        (MOD, "finanzamt", ""),
    ):
        refused(room.say(sender, f"entschuldigt {institution}"), message)
        assert room.last_inbox_outcome() == "user_error"
        assert (attendance(room), len(room.audit())) == before, (sender, institution)


@pytest.mark.parametrize(("quorum", "met"), [(2, True), (3, False)])
def test_the_minutes_state_the_quorum(
    database: Database, clock: FakeClock, quorum: int, met: bool
) -> None:
    room = Room(database, clock, Calendar(land="HE", quorum=quorum))
    session, _, _, event = opened(room)
    assert f"Beschlussfähig ab {quorum} Institutionen." in reply_row(room, event).content["body"]
    assert sitting(room, session).quorum == quorum
    room.say(JA1, "anwesend")  # a second and third person of the same institution count once
    room.say(JA2, "anwesend")
    last = room.say(JC, "anwesend")
    room.say(AA, "entschuldigt agentur")  # apologies do not count

    _, reply = end(room)

    verdict = "beschlussfähig" if met else f"beschlussfähig ab {quorum}"
    assert last.endswith(f"Vertreten: 2 Institutionen – {verdict}."), last
    assert items_after(reply, "Anwesenheit") == [
        f"{AGENTUR}: entschuldigt",
        f"{JOBCENTER}: anwesend ({JC})",
        f"{JUGENDAMT}: anwesend ({MOD}, {JA1}, {JA2})",
    ]
    word = "ja" if met else "nein"
    assert f"\n\nBeschlussfähig: {word} (2 von mindestens {quorum} Institutionen).\n\n" in reply
    assert sitting(room, session).quorum == quorum


def test_the_minutes_say_when_an_institution_was_not_represented(room: Room) -> None:
    opened(room)

    _, reply = end(room)

    assert items_after(reply, "Anwesenheit") == [
        f"{JOBCENTER}: nicht vertreten",
        f"{JUGENDAMT}: anwesend ({MOD})",
    ]
    assert "Beschlussfähig: nein (1 von mindestens 2 Institutionen)." in reply


# -- beschluss --------------------------------------------------------------------------------


def test_a_beschluss_of_a_quorate_sitting_carries_no_warning(room: Room) -> None:
    _, (case, _), _, _ = opened(room)
    room.say(JA1, "anwesend")
    room.say(JC, "anwesend")
    reply = room.say(JA1, f"beschluss {case} Hilfeplangespräch im März")
    assert reply == (
        f"📌 Beschluss 1 zu {case}: Hilfeplangespräch im März\n\n"
        "ℹ️ Namen, Anschriften und Daten der Familie gehören nicht in Beschlüsse."
    )


def test_beschluss_is_stored_and_audited_without_its_text(room: Room) -> None:
    session, (case, _), _, _ = opened(room)
    start = len(room.audit())
    first_text = "Teilnahme am Jugendberufshilfe-Projekt ab Januar"
    second_text = "Schulbegleitung wird beim Schulamt beantragt"

    first = room.say(JA1, f"beschluss {case} {first_text}")
    second = room.say(MOD, f"beschluss {case} {second_text}")
    third = room.say(JC, f"beschluss {case} Hilfeplangespräch im Februar")

    hint = "ℹ️ Namen, Anschriften und Daten der Familie gehören nicht in Beschlüsse."
    not_quorate = (
        "⚠️ Die Sitzung ist nicht beschlussfähig: 1 von mindestens 2 Institutionen anwesend. "
        "Der Beschluss steht so im Protokoll („Beschlussfähig: nein“)."
    )
    assert first == f"📌 Beschluss 1 zu {case}: {first_text}\n\n{not_quorate}\n\n{hint}"
    assert second.startswith(f"📌 Beschluss 2 zu {case}: {second_text}\n\n⚠️"), second
    assert third.startswith(f"📌 Beschluss 3 zu {case}: "), third
    rows = table(room, Decision)
    assert [(d.session_id, d.case_pseudonym, d.text, d.recorded_by) for d in rows] == [
        (session, case, first_text, JA1),
        (session, case, second_text, MOD),
        (session, case, "Hilfeplangespräch im Februar", JC),
    ]
    entries = room.audit()[start:]
    assert [(e.action, e.actor, e.institution, e.pseudonym, e.detail) for e in entries] == [
        ("beschluss", JA1, "jugendamt", case, {"beschluss": rows[0].id, "termin": session}),
        ("beschluss", MOD, "jugendamt", case, {"beschluss": rows[1].id, "termin": session}),
        ("beschluss", JC, "jobcenter", case, {"beschluss": rows[2].id, "termin": session}),
    ]
    stored = json.dumps([(e.action, e.detail) for e in room.audit()], ensure_ascii=False)
    for text in (first_text, second_text, "Hilfeplangespräch", "Jugendberufshilfe"):
        assert text not in stored


def test_beschluss_only_for_an_item_of_the_running_sitting(room: Room) -> None:
    session, (case, _), _ = planned(room, 2)
    other = room.new_case()
    room.clock.set(DURING)

    refused(room.say(JA1, f"beschluss {case} Projekt ab Januar"), "keine Sitzung eröffnet")
    room.mod("sitzung start")
    refused(
        room.say(JA1, f"beschluss {other} Projekt ab Januar"),
        f"{other} steht nicht auf der Tagesordnung der laufenden Sitzung (Termin #{session}).",
    )
    room.mod(f"vertagen {case} grund=Schule fehlte")
    refused(
        room.say(JA1, f"beschluss {case} Projekt ab Januar"),
        f"{case} steht nicht auf der Tagesordnung der laufenden Sitzung",
    )
    assert table(room, Decision) == []
    assert "beschluss" not in room.actions()


def test_beschluss_by_someone_outside_the_participating_institutions_is_refused(
    room: Room,
) -> None:
    # participants: Jugendamt (asked for) and Jobcenter (asking); not the Agentur
    _, (case, _), _, _ = opened(room)
    before = (room.snapshot(), table(room, Decision))

    for sender in (AA, NOBODY):
        reply = room.say(sender, f"beschluss {case} Projekt ab Januar")
        assert reply.startswith("⚠️ "), reply
        if sender == AA:
            assert "Das erfassen die Moderation oder Fachkräfte der beteiligten " in reply
        assert (room.snapshot(), table(room, Decision)) == before
        assert room.last_inbox_outcome() == "user_error"


PERSONAL_DATA = [
    ("Rückmeldung an mutter.k@example.org bis Freitag", "E-Mail-Adresse", "mutter.k@"),
    ("Rückruf der Mutter unter 0171 2345678", "Telefonnummer", "2345678"),
    ("Zuschuss auf DE89 3704 0044 0532 0130 00 überweisen", "IBAN", "DE89"),
    ("Kind geboren am 14.02.2012, Schulwechsel", "Geburtsdatum", "14.02.2012"),
    ("Jugendlicher (03.05.2009) wechselt die Schule", "Geburtsdatum", "03.05.2009"),
]


def test_beschluss_with_personal_data_is_refused_and_nothing_stored(room: Room) -> None:
    _, (case, _), _, _ = opened(room)
    before = (room.snapshot(), tail(room, 0))

    for text, kind, secret in PERSONAL_DATA:
        reply = room.say(JA1, f"beschluss {case} {text}")

        assert reply.startswith("⚠️ Die Eingabe sieht nach personenbezogenen Daten aus ("), reply
        kinds = reply.split("(", 1)[1].split(")", 1)[0].split(", ")
        assert kind in kinds, reply
        assert "wurde nicht gespeichert" in reply
        assert secret not in reply
        assert table(room, Decision) == []
        assert (room.snapshot(), tail(room, 0)) == before
        assert room.last_inbox_outcome() == "user_error"


def test_beschluss_text_has_a_length_limit(room: Room) -> None:
    _, (case, _), _, _ = opened(room)
    start = len(room.audit())

    too_long = room.say(JA1, f"beschluss {case} {'x' * 1001}")
    refused(too_long, "Der Text ist zu lang (höchstens 1000 Zeichen).")
    assert table(room, Decision) == []
    assert tail(room, start) == []

    fits = room.say(JA1, f"beschluss {case} {'x' * 1000}")
    assert fits.startswith(f"📌 Beschluss 1 zu {case}: xxx"), fits[:80]
    assert [len(d.text) for d in table(room, Decision)] == [1000]


# -- lotse ------------------------------------------------------------------------------------


def test_a_new_lotse_replaces_the_previous_one_and_is_mentioned(room: Room) -> None:
    session, (case, _), _, _ = opened(room)
    start = len(room.audit())

    first_event, first = send(room, MOD, f"lotse {case} {JC}")
    second_event, second = send(room, MOD, f"lotse {case} {JA2}")

    assert first == (
        f"🧭 Lotse für {case}: {JC} ({JOBCENTER}). Du bündelst die vereinbarte Hilfe und "
        "meldest dich zur Wiedervorlage."
    )
    assert second.startswith(f"🧭 Lotse für {case}: {JA2} ({JUGENDAMT}). "), second
    assert reply_row(room, first_event).content["m.mentions"] == {"user_ids": [MOD, JC]}
    assert reply_row(room, second_event).content["m.mentions"] == {"user_ids": [MOD, JA2]}
    assert [
        (n.session_id, n.case_pseudonym, n.user_id, n.institution, n.assigned_by, n.active)
        for n in table(room, Navigator)
    ] == [
        (session, case, JC, "jobcenter", MOD, False),
        (session, case, JA2, "jugendamt", MOD, True),
    ]
    assert tail(room, start) == [
        ("lotse_bestimmt", MOD, case, {"lotse": JC, "termin": session}),
        ("lotse_bestimmt", MOD, case, {"lotse": JA2, "termin": session}),
    ]
    _, minutes = end(room)
    assert f"Lotse: {JA2} ({JUGENDAMT})" in item_lines(minutes, case)
    assert f"Lotse: {JC}" not in minutes


def test_lotse_is_set_by_moderation_to_a_person_of_a_participating_institution(
    room: Room,
) -> None:
    _, (case, _), _, _ = opened(room)
    start = len(room.audit())
    outsider = (
        "gehört zu keiner beteiligten Institution dieses Falls "
        f"(Teilnehmende: {JOBCENTER}, {JUGENDAMT})."
    )

    for sender, user, message in (
        (JA1, JC, role_refusal("lotse")),
        (JC, JC, role_refusal("lotse")),
        (MOD, AA, f"{AA} {outsider}"),
        (MOD, NOBODY, f"{NOBODY} {outsider}"),
        (MOD, ADMIN, f"{ADMIN} {outsider}"),
        (MOD, "carla", "Bitte die Person als Matrix-ID angeben"),
        (MOD, "@carla", "Bitte die Person als Matrix-ID angeben"),
    ):
        refused(room.say(sender, f"lotse {case} {user}"), message)
        assert table(room, Navigator) == []
        assert tail(room, start) == []


# -- aufgabe ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "stored", "due"),
    [
        ("Termin Berufsberatung bis 15.01.2027", "Termin Berufsberatung", date(2027, 1, 15)),
        ("Termin Berufsberatung bis morgen", "Termin Berufsberatung", date(2026, 11, 27)),
        ("Unterlagen bis Ende prüfen", "Unterlagen bis Ende prüfen", None),
        ("Bewerbungsunterlagen prüfen", "Bewerbungsunterlagen prüfen", None),
    ],
)
def test_aufgabe_with_and_without_a_due_date(
    room: Room, text: str, stored: str, due: date | None
) -> None:
    session, (case, _), _, _ = opened(room)
    start = len(room.audit())

    event, reply = send(room, JA1, f"aufgabe {case} {JC} {text}")

    until = f" – bis {due:%d.%m.%Y}" if due else ""
    assert reply == f"☑️ Aufgabe für {JC} ({JOBCENTER}) zu {case}: {stored}{until}"
    assert reply_row(room, event).content["m.mentions"] == {"user_ids": [JA1, JC]}
    [task] = table(room, Task)
    assert (
        task.session_id,
        task.case_pseudonym,
        task.owner,
        task.owner_institution,
        task.text,
        task.due,
        task.state,
        task.created_by,
    ) == (session, case, JC, "jobcenter", stored, due, "offen", JA1)
    assert tail(room, start) == [("aufgabe", JA1, case, {"aufgabe": task.id, "verantwortlich": JC})]


def test_aufgabe_owner_and_recorder_must_take_part(room: Room) -> None:
    _, (case, _), _, _ = opened(room)
    start = len(room.audit())

    for sender, owner, message in (
        (JA1, AA, f"{AA} gehört zu keiner beteiligten Institution dieses Falls"),
        (JA1, NOBODY, f"{NOBODY} gehört zu keiner beteiligten Institution dieses Falls"),
        (MOD, ADMIN, f"{ADMIN} gehört zu keiner beteiligten Institution dieses Falls"),
        (AA, JC, "Das erfassen die Moderation oder Fachkräfte der beteiligten Institutionen."),
        (JA1, "carla", "Bitte die Person als Matrix-ID angeben"),
    ):
        refused(room.say(sender, f"aufgabe {case} {owner} Unterlagen prüfen"), message)
        assert table(room, Task) == []
        assert tail(room, start) == []


@pytest.mark.parametrize("when", ["20.11.2026", "gestern", "2026-11-25"])
def test_aufgabe_with_a_due_date_in_the_past_is_refused(room: Room, when: str) -> None:
    _, (case, _), _, _ = opened(room)
    start = len(room.audit())

    reply = room.say(JA1, f"aufgabe {case} {JC} Termin Berufsberatung bis {when}")

    assert reply.startswith("⚠️ "), reply
    assert table(room, Task) == []
    assert tail(room, start) == []


# -- wiedervorlage ----------------------------------------------------------------------------


def test_wiedervorlage_must_lie_in_the_future(room: Room) -> None:
    _, (case, _), _, _ = opened(room)
    start = len(room.audit())

    for when in ("heute", "gestern", "26.11.2026", "20.11.2026", "2026-11-01"):
        reply = room.say(JA1, f"wiedervorlage {case} {when}")

        refused(reply, "Die Wiedervorlage muss in der Zukunft liegen.")
        assert (table(room, Review), table(room, CaseReminder)) == ([], [])
        assert tail(room, start) == []


def test_wiedervorlage_is_recorded_by_participants_only(room: Room) -> None:
    _, (case, _), _, _ = opened(room)
    start = len(room.audit())

    reply = room.say(AA, f"wiedervorlage {case} 10.12.2026")

    refused(reply, "Das erfassen die Moderation oder Fachkräfte der beteiligten Institutionen.")
    assert (table(room, Review), table(room, CaseReminder)) == ([], [])
    assert tail(room, start) == []


@pytest.mark.parametrize(
    ("days", "due", "expected"),
    [
        (
            (7, 1),
            "10.12.2026",
            [
                ("wiedervorlage", 7 * 1440, utc("03.12.2026", "07:00"), "offen"),
                ("wiedervorlage", 1440, utc("09.12.2026", "07:00"), "offen"),
                ("überfällig", 0, utc("11.12.2026", "07:00"), "offen"),
            ],
        ),
        (  # daylight saving time starts on 28.03.2027: 08:00 in Berlin is 06:00 UTC after
            (7, 1),
            "02.04.2027",
            [
                ("wiedervorlage", 7 * 1440, utc("26.03.2027", "07:00"), "offen"),
                ("wiedervorlage", 1440, utc("01.04.2027", "06:00"), "offen"),
                ("überfällig", 0, utc("03.04.2027", "06:00"), "offen"),
            ],
        ),
        (  # a week ahead lies in the past: that reminder is void from the start
            (7, 1),
            "30.11.2026",
            [
                ("wiedervorlage", 7 * 1440, utc("23.11.2026", "07:00"), "hinfällig"),
                ("wiedervorlage", 1440, utc("29.11.2026", "07:00"), "offen"),
                ("überfällig", 0, utc("01.12.2026", "07:00"), "offen"),
            ],
        ),
        (  # configured days; 14 days ahead is today 08:00, already past at 10:30
            (14, 3),
            "10.12.2026",
            [
                ("wiedervorlage", 14 * 1440, utc("26.11.2026", "07:00"), "hinfällig"),
                ("wiedervorlage", 3 * 1440, utc("07.12.2026", "07:00"), "offen"),
                ("überfällig", 0, utc("11.12.2026", "07:00"), "offen"),
            ],
        ),
    ],
)
def test_wiedervorlage_arms_reminders_at_eight_in_berlin(
    database: Database,
    clock: FakeClock,
    days: tuple[int, ...],
    due: str,
    expected: list[tuple[str, int, datetime, str]],
) -> None:
    room = Room(database, clock, Calendar(land="HE", review_reminder_days=days))
    session, (case, _), _, _ = opened(room)
    start = len(room.audit())

    reply = room.say(JA1, f"wiedervorlage {case} {due}")

    assert reply == f"📅 Wiedervorlage für {case} am {due}."
    [review] = table(room, Review)
    day = datetime.strptime(due, "%d.%m.%Y").date()
    assert (
        review.session_id,
        review.case_pseudonym,
        review.due,
        review.state,
        review.created_by,
        review.closed_at,
    ) == (session, case, day, "offen", JA1, None)
    assert case_reminders(room) == [(review.id, *row) for row in expected]
    assert tail(room, start) == [("wiedervorlage", JA1, case, {"datum": day.isoformat()})]


def test_a_second_wiedervorlage_replaces_the_first(room: Room) -> None:
    _, (case, _), _, _ = opened(room)
    room.mod(f"lotse {case} {JC}")
    room.say(JA1, f"wiedervorlage {case} 10.12.2026")

    event, reply = send(room, JA1, f"wiedervorlage {case} 17.12.2026")

    assert reply == (
        f"📅 Wiedervorlage für {case} am 17.12.2026; ich erinnere den Lotsen {JC} vorher."
    )
    assert reply_row(room, event).content["m.mentions"] == {"user_ids": [JA1, JC]}
    first, second = table(room, Review)
    assert (first.due, first.state, first.closed_at) == (
        date(2026, 12, 10),
        "ersetzt",
        room.clock.now(),
    )
    assert (second.due, second.state, second.closed_at) == (date(2026, 12, 17), "offen", None)
    by_review = case_reminders(room)
    assert {state for rid, _, _, _, state in by_review if rid == first.id} == {"hinfällig"}
    assert {state for rid, _, _, _, state in by_review if rid == second.id} == {"offen"}
    # the replaced date brings nothing, the new one does
    end(room)
    room.mod("protokoll bestätigen")
    for moment in ("03.12.2026", "09.12.2026"):
        room.clock.set(utc(moment, "07:00"))
        assert room.run() == [], moment
    room.clock.set(utc("10.12.2026", "07:00"))
    [reminder] = room.run()
    assert reminder["body"].startswith(f"⏰ Wiedervorlage: {case} am 17.12.2026 (in 7 Tagen).")
    room.clock.set(utc("11.12.2026", "07:00"))  # the first one's overdue notice is void
    assert room.run() == []
    assert [state for rid, *_, state in case_reminders(room) if rid == first.id] == [
        "hinfällig"
    ] * 3


def test_the_runner_reminds_the_lotse_then_tells_moderation_when_nothing_came_back(
    room: Room,
) -> None:
    _, (case, _), _, _ = opened(room)
    room.mod(f"lotse {case} {JC}")
    room.say(JA1, f"wiedervorlage {case} 10.12.2026")
    end(room)
    room.mod("protokoll bestätigen")  # no minutes reminder in between
    [review] = table(room, Review)
    [week, day, overdue] = [r.id for r in sorted(table(room, CaseReminder), key=lambda r: r.due_at)]

    room.clock.set(utc("03.12.2026", "07:00") - timedelta(seconds=1))
    assert room.run() == []
    room.clock.set(utc("03.12.2026", "07:00"))
    [first] = room.run_rows()
    assert first.content["body"] == (
        f"⏰ Wiedervorlage: {case} am 10.12.2026 (in 7 Tagen).\n\n"
        f"{JC}, bitte zurückmelden: `{PREFIX} wiedervorlage erledigt {case}`"
    )
    assert first.content["m.mentions"] == {"user_ids": [JC]}
    assert first.txn_id == txn_id_for(f"review:{week}", "agenda")
    assert first.requires_encryption
    assert room.run() == []

    room.clock.set(utc("09.12.2026", "07:00"))
    [second] = room.run()
    assert second["body"].startswith(f"⏰ Wiedervorlage: {case} am 10.12.2026 (morgen).")
    assert second["m.mentions"] == {"user_ids": [JC]}

    room.clock.set(utc("11.12.2026", "07:00") - timedelta(seconds=1))
    assert room.run() == []
    assert table(room, Review)[0].state == "offen"
    room.clock.set(utc("11.12.2026", "07:00"))
    [late] = room.run()
    assert late["body"] == (
        f"⚠️ Wiedervorlage überfällig: {case} – fällig am 10.12.2026, es wurde nichts "
        f"zurückgemeldet.\n\nLotse: {JC}\n\nAn die Moderation: {ADMIN}, {MOD}"
    )
    assert late["m.mentions"] == {"user_ids": [*MODERATORS, JC]}
    assert room.run() == []
    assert table(room, Review)[0].state == "überfällig"
    assert [(r.id, r.state, r.sent_at is not None) for r in table(room, CaseReminder)] == [
        (week, "gesendet", True),
        (day, "gesendet", True),
        (overdue, "gesendet", True),
    ]
    assert review.id == table(room, Review)[0].id

    # overdue, it can still be reported back
    assert room.say(JC, f"wiedervorlage erledigt {case}") == (
        f"✅ Wiedervorlage {case} (10.12.2026) erledigt."
    )
    assert table(room, Review)[0].state == "erledigt"


@pytest.mark.parametrize("reporter", [JC, MOD])
def test_wiedervorlage_erledigt_by_the_lotse_or_moderation_stops_the_overdue_notice(
    room: Room, reporter: UserId
) -> None:
    _, (case, _), _, _ = opened(room)
    room.mod(f"lotse {case} {JA2}")
    room.mod(f"lotse {case} {JC}")  # JA2 is no longer the Lotse
    room.say(JA1, f"wiedervorlage {case} 10.12.2026")
    end(room)
    room.mod("protokoll bestätigen")
    start = len(room.audit())

    for other in (JA1, JA2, AA):
        refused(
            room.say(other, f"wiedervorlage erledigt {case}"),
            "Das meldet der Lotse des Falls oder die Moderation.",
        )
    assert tail(room, start) == []
    room.clock.set(utc("03.12.2026", "07:00"))
    [reminder] = room.run()
    assert reminder["m.mentions"] == {"user_ids": [JC]}

    reply = room.say(reporter, f"wiedervorlage erledigt {case}")

    assert reply == f"✅ Wiedervorlage {case} (10.12.2026) erledigt."
    [review] = table(room, Review)
    assert (review.state, review.closed_at) == ("erledigt", room.clock.now())
    assert [state for *_, state in case_reminders(room)] == ["gesendet", "hinfällig", "hinfällig"]
    assert tail(room, start) == [
        ("wiedervorlage_erledigt", reporter, case, {"datum": "2026-12-10"})
    ]
    for moment in ("09.12.2026", "11.12.2026", "12.12.2026"):
        room.clock.set(utc(moment, "07:00"))
        assert room.run() == [], moment
    assert table(room, Review)[0].state == "erledigt"
    refused(
        room.say(reporter, f"wiedervorlage erledigt {case}"),
        f"Für {case} ist keine Wiedervorlage offen.",
    )


def test_wiedervorlage_accepts_the_date_forms_its_help_offers(room: Room) -> None:
    _, (case, _), _, _ = opened(room)
    assert "in 8 Wochen" in room.say(JA1, "hilfe wiedervorlage")

    reply = room.say(JA1, f"wiedervorlage {case} in 8 Wochen")

    assert reply == f"📅 Wiedervorlage für {case} am 21.01.2027.", reply
    assert [r.due for r in table(room, Review)] == [date(2027, 1, 21)]


# -- vertagen ---------------------------------------------------------------------------------

WEEKLY = 'reihe neu Fallkonferenz regel="jeden Mittwoch" zeit=10:00-12:00 plätze=2'


def series_day(room: Room, day: str) -> int:
    [session] = [
        s.id
        for s in room.sessions()
        if s.starts_at.astimezone(LOCAL_TZ).strftime("%d.%m.%Y") == day
    ]
    return session


@pytest.mark.parametrize(
    "grund",
    ["grund=Schule fehlte heute", 'grund="Schule fehlte heute"', "grund=„Schule fehlte heute“"],
)
def test_vertagen_moves_the_item_to_the_next_session_of_the_series_with_room(
    room: Room, grund: str
) -> None:
    room.mod(WEEKLY)
    made = [room.ready_case()[:2] for _ in range(6)]  # 2 on each of the first three Wednesdays
    today, full_1, full_2, free = (
        series_day(room, day) for day in ("25.11.2026", "02.12.2026", "09.12.2026", "16.12.2026")
    )
    assert [room.placements()[r] for _, r in made] == [today, today, full_1, full_1, full_2, full_2]
    single = room.adhoc("30.11.2026 10:00")  # free, but not of the series
    (case, request_id), (kept, kept_id) = made[:2]
    room.clock.set(utc("25.11.2026", "09:30"))
    room.mod("sitzung start")
    start = len(room.audit())

    reply = room.mod(f"vertagen {case} {grund}")

    assert (
        reply
        == f"⏭️ {case} vertagt (Schule fehlte heute) auf Termin #{free} am Mi 16.12.2026 10:00."
    )
    assert room.placements()[request_id] == free
    assert room.agenda_ids(today) == [kept_id]
    assert room.agenda_ids(single) == []
    assert request_state(room, request_id) == "bereit"
    [carry] = table(room, Carryover)
    assert (
        carry.request_id,
        carry.case_pseudonym,
        carry.from_session,
        carry.to_session,
        carry.reason,
        carry.by,
        carry.at,
    ) == (request_id, case, today, free, "Schule fehlte heute", MOD, room.clock.now())
    assert tail(room, start) == [
        ("vertagt", MOD, case, {"anfrage": request_id, "termin": today, "neuer_termin": free})
    ]
    # it is no longer an item of this sitting; the minutes say where it went
    refused(room.say(JA1, f"beschluss {case} Projekt"), "steht nicht auf der Tagesordnung")
    _, minutes = end(room)
    assert item_lines(minutes, case) == [
        f"Vertagt (Schule fehlte heute) → Termin #{free} am Mi 16.12.2026 10:00"
    ]
    assert [c.request_id for c in table(room, Carryover)] == [request_id, kept_id]
    assert kept in minutes


def test_vertagen_respects_the_latest_date_of_the_request(room: Room) -> None:
    room.mod(WEEKLY)
    case = room.new_case()
    room.consent(case, "jugendamt,jobcenter,agentur")
    request_id, reply = room.request(case, extra="bis=10.12.2026")
    assert "spätestens 10.12.2026" in reply
    for _ in range(5):  # the next two Wednesdays (02.12., 09.12.) are full
        room.ready_case()
    today = series_day(room, "25.11.2026")
    assert room.placements()[request_id] == today
    room.clock.set(utc("25.11.2026", "09:30"))
    room.mod("sitzung start")

    reply = room.mod(f"vertagen {case} grund=Schule fehlte")

    placed = room.placements().get(request_id)
    assert placed is None, reply  # no session up to 10.12.2026 has room
    [carry] = table(room, Carryover)
    assert carry.to_session is None
    start = len(room.audit())
    room.run()  # the daily pass has nothing to take back
    assert "agenda_entfernt" not in room.actions()[start:]


def test_sitzung_ende_fills_the_next_sessions_up_to_their_capacity(room: Room) -> None:
    room.mod(WEEKLY)
    made = [room.ready_case()[:2] for _ in range(3)]  # two today, one on 02.12.
    today, next_week, week_after = (
        series_day(room, day) for day in ("25.11.2026", "02.12.2026", "09.12.2026")
    )
    assert [room.placements()[r] for _, r in made] == [today, today, next_week]
    room.clock.set(utc("25.11.2026", "09:30"))
    room.mod("sitzung start")

    _, reply = end(room)

    (first, first_id), (second, second_id), _ = made
    assert reply.startswith(
        f"⏭️ Nicht behandelt und vertagt: {first} → Termin #{next_week}, "
        f"{second} → Termin #{week_after}."
    ), reply
    assert [(c.request_id, c.to_session, c.reason) for c in table(room, Carryover)] == [
        (first_id, next_week, "nicht behandelt"),
        (second_id, week_after, "nicht behandelt"),
    ]
    assert len(room.agenda_ids(next_week)) == 2
    assert room.agenda_ids(week_after) == [second_id]


def test_vertagen_without_a_next_session_keeps_the_request_ready(room: Room) -> None:
    session, (case, _), (request_id, _), _ = opened(room)
    start = len(room.audit())

    reply = room.mod(f"vertagen {case} grund=Schule fehlte")

    assert reply == (
        f"⏭️ {case} vertagt (Schule fehlte) – es gibt noch keinen passenden Termin; "
        "die Anfrage bleibt bereit."
    )
    [carry] = table(room, Carryover)
    assert (carry.request_id, carry.from_session, carry.to_session, carry.reason) == (
        request_id,
        session,
        None,
        "Schule fehlte",
    )
    assert tail(room, start) == [("vertagt", MOD, case, {"anfrage": request_id, "termin": session})]
    assert request_id not in room.placements()
    assert request_state(room, request_id) == "bereit"
    # a new session takes it up
    later = room.adhoc("03.12.2026 10:00")
    assert room.placements()[request_id] == later


def test_vertagen_needs_moderation_and_a_reason(room: Room) -> None:
    _, (case, _), _, _ = opened(room)
    before = (room.snapshot(), table(room, Carryover))

    for sender, argument, message in (
        (JA1, "grund=Schule fehlte", role_refusal("vertagen")),
        (JC, "grund=Schule fehlte", role_refusal("vertagen")),
        (MOD, "Schule fehlte", "Bitte den Grund so angeben: grund=<text>."),
        (MOD, "grund=", "Bitte einen Text angeben."),
        (MOD, 'grund=""', "Bitte einen Text angeben."),
        (MOD, "grund=" + "x" * 201, "Der Grund ist zu lang (höchstens 200 Zeichen)."),
        (MOD, "grund=Rückruf unter 0171 2345678", "personenbezogenen Daten aus (Telefonnummer)"),
    ):
        refused(room.say(sender, f"vertagen {case} {argument}"), message)
        assert (room.snapshot(), table(room, Carryover)) == before, argument


# -- sitzung ende -----------------------------------------------------------------------------


def test_sitzung_ende_carries_over_unhandled_items_and_closes_the_session(room: Room) -> None:
    # held in the morning for the afternoon session: its reminders are still armed
    session, (done, untouched, reviewed), (done_id, untouched_id, reviewed_id) = planned(
        room, 3, "26.11.2026 14:00"
    )
    later = room.adhoc("17.12.2026 10:00")
    room.clock.set(DURING)
    room.mod(f"sitzung start {session}")
    room.say(JA1, f"beschluss {done} Teilnahme am Projekt ab Januar")
    room.say(JA1, f"wiedervorlage {reviewed} 10.12.2026")
    armed = {r.id for r in room.reminders(session) if r.state == "offen"}
    assert {r.kind for r in room.reminders(session) if r.id in armed} >= {"termin", "beginn"}
    start = len(room.audit())

    event, reply = end(room)

    assert reply.startswith(
        f"⏭️ Nicht behandelt und vertagt: {untouched} → Termin #{later}.\n\n"
        f"📝 Protokoll Fallkonferenz – Termin #{session}, Do 26.11.2026 14:00\n\n"
    ), reply
    assert tail(room, start) == [
        ("anfrage_besprochen", MOD, done, {"anfrage": done_id}),
        (
            "vertagt",
            MOD,
            untouched,
            {"anfrage": untouched_id, "termin": session, "neuer_termin": later},
        ),
        ("anfrage_besprochen", MOD, reviewed, {"anfrage": reviewed_id}),
        ("sitzung_beendet", MOD, None, {"termin": session}),
    ]
    assert [request_state(room, r) for r in (done_id, untouched_id, reviewed_id)] == [
        "besprochen",
        "bereit",
        "besprochen",
    ]
    assert [
        (c.request_id, c.case_pseudonym, c.from_session, c.to_session, c.reason, c.by)
        for c in table(room, Carryover)
    ] == [(untouched_id, untouched, session, later, "nicht behandelt", MOD)]
    assert room.agenda_ids(session) == [done_id, reviewed_id]  # history stays
    assert room.agenda_ids(later) == [untouched_id]
    assert room.session(session).state == "beendet"
    row = sitting(room, session)
    assert (row.closed_at, row.closed_by, row.minutes_txn_id) == (
        room.clock.now(),
        MOD,
        txn_id_for(event, "reply"),
    )
    assert (row.confirmed_at, row.confirmed_by) == (None, None)
    # the session's reminders are cancelled; the minutes reminder is armed
    reminders = room.reminders(session)
    assert {r.state for r in reminders if r.id in armed} == {"hinfällig"}
    assert [
        (r.kind, r.offset_minutes, r.due_at, r.state) for r in reminders if r.state == "offen"
    ] == [("protokoll", 0, utc("03.12.2026", "07:00"), "offen")]
    room.clock.set(utc("26.11.2026", "13:00"))  # 14:00: the start check and reminders are off
    assert room.run() == []
    refused(room.mod("sitzung ende"), "Es ist keine Sitzung eröffnet.")
    assert room.actions().count("sitzung_beendet") == 1


def test_the_minutes_list_exactly_what_was_recorded(room: Room) -> None:
    session, cases, _, event = opened(room, 4)
    full, moved, closed, untouched = cases
    room.ack(txn_id_for(event, "reply"), OPENING)
    room.say(JA1, "anwesend")
    room.react(JC, OPENING, HAND_KEY)
    room.say(AA, "entschuldigt agentur")
    room.say(JA1, f"beschluss {full} Teilnahme am Jugendberufshilfe-Projekt ab Januar")
    room.mod(f"beschluss {full} Schulbegleitung wird beantragt")
    room.mod(f"lotse {full} {JC}")
    room.say(JA1, f"aufgabe {full} {JC} Termin Berufsberatung bis 15.01.2027")
    room.mod(f"aufgabe {full} {JA1} Hilfeplan fortschreiben")
    room.say(JC, f"wiedervorlage {full} 21.01.2027")
    room.mod(f"vertagen {moved} grund=Schule fehlte")
    room.say(JA2, f"erledigt {closed}")

    _, reply = end(room)

    minutes = minutes_part(reply)
    assert reply.startswith(f"⏭️ Nicht behandelt und vertagt: {untouched} → noch kein Termin.")
    assert minutes.startswith(
        f"📝 Protokoll Fallkonferenz – Termin #{session}, Do 26.11.2026 10:00\n\n"
    )
    assert items_after(minutes, "Anwesenheit") == [
        f"{AGENTUR}: entschuldigt",
        f"{JOBCENTER}: anwesend ({JC})",
        f"{JUGENDAMT}: anwesend ({MOD}, {JA1})",
    ]
    assert "Beschlussfähig: ja (2 von mindestens 2 Institutionen)." in minutes
    assert sorted(ITEM_HEADER.findall(minutes)) == sorted(cases)
    for case in cases:
        assert f"{case} – Ausbildung, angefragt von {JOBCENTER}\n\n" in minutes
    assert item_lines(minutes, full) == [
        "Beschluss: Teilnahme am Jugendberufshilfe-Projekt ab Januar",
        "Beschluss: Schulbegleitung wird beantragt",
        f"Lotse: {JC} ({JOBCENTER})",
        f"Aufgabe: {JC} ({JOBCENTER}): Termin Berufsberatung, bis 15.01.2027",
        f"Aufgabe: {JA1} ({JUGENDAMT}): Hilfeplan fortschreiben",
        "Wiedervorlage: 21.01.2027",
    ]
    assert item_lines(minutes, moved) == ["Vertagt (Schule fehlte) → noch kein Termin"]
    assert item_lines(minutes, closed) == ["Fall erledigt"]
    assert item_lines(minutes, untouched) == ["Vertagt (nicht behandelt) → noch kein Termin"]
    assert minutes.endswith(
        "⏳ Noch nicht bestätigt. Moderation: ✅ auf diese Nachricht oder "
        f"`{PREFIX} protokoll bestätigen {session}`."
    )
    assert minutes.count("Beschluss:") == 2
    assert minutes.count("Aufgabe:") == 2
    assert room.say(JC, "protokoll") == minutes
    assert room.say(JC, f"protokoll {session}") == minutes


@pytest.mark.parametrize(
    ("when", "at", "working_days", "due"),
    [
        (THURSDAY, DURING, 5, utc("03.12.2026", "07:00")),
        (THURSDAY, DURING, 2, utc("30.11.2026", "07:00")),  # over the weekend
        # Christmas (25./26.12.) and New Year (01.01.) are holidays in Hessen
        ("23.12.2026 10:00", utc("23.12.2026", "09:30"), 5, utc("31.12.2026", "07:00")),
        ("23.12.2026 10:00", utc("23.12.2026", "09:30"), 6, utc("04.01.2027", "07:00")),
    ],
)
def test_the_minutes_reminder_is_armed_working_days_later_at_eight(
    database: Database,
    clock: FakeClock,
    when: str,
    at: datetime,
    working_days: int,
    due: datetime,
) -> None:
    room = Room(database, clock, Calendar(land="HE", minutes_working_days=working_days))
    session, _, _, _ = opened(room, 1, when, at)

    end(room)

    [row] = room.reminders(session, "protokoll")
    assert (row.offset_minutes, row.due_at, row.state) == (0, due, "offen")


@pytest.mark.parametrize("confirmed", [False, True])
def test_the_runner_reminds_moderation_of_unconfirmed_minutes_only(
    room: Room, confirmed: bool
) -> None:
    session, _, _, _ = opened(room, 1)
    event, _ = end(room)
    room.ack(txn_id_for(event, "reply"), MINUTES)
    if confirmed:
        room.mod("protokoll bestätigen")
        [edit] = room.run()
        assert edit["m.relates_to"]["rel_type"] == "m.replace"
    due = utc("03.12.2026", "07:00")

    room.clock.set(due - timedelta(seconds=1))
    assert room.run() == []
    room.clock.set(due)
    rows = room.run_rows()

    [job] = room.reminders(session, "protokoll")
    if confirmed:
        assert rows == []
        assert job.state == "hinfällig"
        return
    [row] = rows
    assert row.content["body"] == (
        f"📝 Protokoll nicht bestätigt: Fallkonferenz (Termin #{session}) vom "
        "Do 26.11.2026 10:00. Bitte prüfen und bestätigen: ✅ auf das Protokoll oder "
        f"`{PREFIX} protokoll bestätigen {session}`.\n\nAn die Moderation: {ADMIN}, {MOD}"
    )
    assert row.content["m.mentions"] == {"user_ids": MODERATORS}
    assert row.content["m.relates_to"] == {"m.in_reply_to": {"event_id": MINUTES}}
    assert (job.state, job.sent_at) == ("gesendet", due)
    assert room.run() == []
    room.clock.set(due + timedelta(days=1))
    assert room.run() == []


# -- confirming the minutes -------------------------------------------------------------------


def test_protokoll_bestaetigen_confirms_once_and_the_minutes_are_edited_once(
    room: Room,
) -> None:
    session, (case, _), _, _ = opened(room)
    room.say(JA1, f"beschluss {case} Teilnahme am Projekt ab Januar")
    refused(room.mod("protokoll bestätigen"), "Dazu gibt es kein Protokoll")
    event, reply = end(room)
    room.ack(txn_id_for(event, "reply"), MINUTES)
    assert room.run() == []  # nothing changed yet
    start = len(room.audit())

    assert room.say(JA1, "protokoll bestätigen") == role_refusal("protokoll bestätigen")
    assert sitting(room, session).confirmed_at is None
    confirmed = room.mod("protokoll bestätigen")
    at = room.clock.now()
    again = room.mod(f"protokoll bestätigen {session}")

    assert confirmed == f"✅ Protokoll von Termin #{session} bestätigt."
    stamp = at.astimezone(LOCAL_TZ).strftime("%d.%m.%Y %H:%M")
    assert again == (
        f"Das Protokoll von Termin #{session} ist bereits bestätigt (von {MOD} am {stamp} Uhr)."
    )
    row = sitting(room, session)
    assert (row.confirmed_by, row.confirmed_at, row.minutes_dirty) == (MOD, at, True)
    assert tail(room, start) == [("protokoll_bestaetigt", MOD, None, {"termin": session})]

    [edit] = room.run()

    assert edit["m.relates_to"] == {"rel_type": "m.replace", "event_id": MINUTES}
    new_body = edit["m.new_content"]["body"]
    assert edit["body"] == "* " + new_body
    assert new_body.endswith(f"✅ Bestätigt von {MOD} am {stamp} Uhr.")
    assert "Noch nicht bestätigt" not in new_body
    assert new_body == room.say(JC, "protokoll")
    assert new_body == minutes_part(reply).replace(
        "⏳ Noch nicht bestätigt. Moderation: ✅ auf diese Nachricht oder "
        f"`{PREFIX} protokoll bestätigen {session}`.",
        f"✅ Bestätigt von {MOD} am {stamp} Uhr.",
    )
    assert room.run() == []
    row = sitting(room, session)
    assert (row.minutes_dirty, row.minutes_edits) == (False, 1)


def test_the_minutes_edit_waits_for_the_homeserver(room: Room) -> None:
    session, _, _, _ = opened(room, 1)
    event, _ = end(room)
    room.mod("protokoll bestätigen")

    assert room.run() == []  # the minutes have no event id yet
    assert sitting(room, session).minutes_dirty

    room.ack(txn_id_for(event, "reply"), MINUTES)
    [edit] = room.run()
    assert edit["m.relates_to"] == {"rel_type": "m.replace", "event_id": MINUTES}
    assert room.run() == []


def test_a_check_mark_on_the_minutes_confirms_for_moderation_only(room: Room) -> None:
    session, _, _, _ = opened(room, 1)
    event, _ = end(room)
    start = len(room.audit())

    assert room.react(MOD, MINUTES, "✅") == []  # not acknowledged yet: unknown message
    room.ack(txn_id_for(event, "reply"), MINUTES)
    assert room.react(JA1, MINUTES, "✅") == []  # a caseworker's ✅ is just a reaction
    assert room.react(JC, MINUTES, "✅") == []
    assert sitting(room, session).confirmed_at is None
    assert tail(room, start) == []
    assert room.run() == []

    assert room.react(MOD, MINUTES, "✅") == [f"✅ Protokoll von Termin #{session} bestätigt."]
    at = room.clock.now()
    [later] = room.react(MOD, MINUTES, "✅")

    assert later.startswith(f"Das Protokoll von Termin #{session} ist bereits bestätigt"), later
    row = sitting(room, session)
    assert (row.confirmed_by, row.confirmed_at) == (MOD, at)
    assert tail(room, start) == [("protokoll_bestaetigt", MOD, None, {"termin": session})]
    [edit] = room.run()
    assert edit["m.relates_to"] == {"rel_type": "m.replace", "event_id": MINUTES}
    assert f"✅ Bestätigt von {MOD} am " in edit["m.new_content"]["body"]
    assert room.run() == []


def test_a_check_mark_elsewhere_confirms_nothing(room: Room) -> None:
    session, _, _, opening = opened(room, 1)
    room.ack(txn_id_for(opening, "reply"), OPENING)
    end(room)

    assert room.react(MOD, OPENING, "✅") == []  # the opening message is not the minutes
    assert room.react(MOD, "$irgendwas", "✅") == []
    assert sitting(room, session).confirmed_at is None
    assert "protokoll_bestaetigt" not in room.actions()


# -- erledigt ---------------------------------------------------------------------------------


def test_erledigt_closes_the_case_its_requests_placements_and_wiedervorlage(room: Room) -> None:
    session, (case, in_sitting), (request_id, in_sitting_id) = planned(room, 2)
    later = room.adhoc("03.12.2026 10:00")
    room.clock.set(DURING)
    room.mod("sitzung start")
    room.say(JA1, f"wiedervorlage {case} 10.12.2026")
    room.mod(f"vertagen {case} grund=Schule fehlte")
    assert room.placements()[request_id] == later
    before = (room.snapshot(), reviews(room), case_reminders(room))

    for sender in (JC, AA, NOBODY):
        reply = room.say(sender, f"erledigt {case}")
        assert reply.startswith("⚠️ "), reply
        if sender != NOBODY:
            assert "Einen Fall schließen die fallführende Fachkraft oder die Moderation." in reply
    assert (room.snapshot(), reviews(room), case_reminders(room)) == before
    start = len(room.audit())

    reply = room.say(JA2, f"erledigt {case}")  # a professional of the owning institution

    assert reply.startswith(f"🏁 {case} ist erledigt."), reply
    with room.db.uow() as uow:
        row = uow.session.get(CaseFile, case)
        assert row is not None
        assert (row.state, row.closed_at) == ("erledigt", room.clock.now())
    assert request_state(room, request_id) == "erledigt"
    assert request_id not in room.placements()
    assert room.agenda_ids(later) == []
    [review] = table(room, Review)
    assert (review.state, review.closed_at) == ("beendet", room.clock.now())
    assert {state for *_, state in case_reminders(room)} == {"hinfällig"}
    closed = [
        ("agenda_entfernt", JA2, case, {"anfrage": request_id, "termin": later}),
        ("fall_erledigt", JA2, case, {}),
    ]
    assert tail(room, start) == closed
    refused(room.mod(f"erledigt {case}"), f"{case} ist bereits erledigt.")
    assert tail(room, start) == closed
    room.clock.set(utc("11.12.2026", "07:00"))
    assert [c for c in room.run() if "Wiedervorlage" in c["body"]] == []

    # an item of the running sitting stays on its agenda and is not carried over
    room.clock.set(DURING + timedelta(minutes=5))
    assert room.mod(f"erledigt {in_sitting}").startswith(f"🏁 {in_sitting} ist erledigt.")
    assert room.agenda_ids(session) == [in_sitting_id]
    assert request_state(room, in_sitting_id) == "erledigt"
    _, minutes = end(room)
    assert item_lines(minutes, in_sitting) == ["Fall erledigt"]
    assert [c.request_id for c in table(room, Carryover)] == [request_id]
    assert request_state(room, in_sitting_id) == "erledigt"


def test_erledigt_audits_taking_the_case_off_a_future_agenda(room: Room) -> None:
    session, (case, _), (request_id, _) = planned(room, 2)
    start = len(room.audit())

    room.say(JA1, f"erledigt {case}")

    assert request_id not in room.placements()
    assert ("agenda_entfernt", JA1, case, {"anfrage": request_id, "termin": session}) in tail(
        room, start
    )
    room.check_placements_audited()


# -- protokoll export -------------------------------------------------------------------------


def test_protokoll_export_sends_markdown_pdf_and_json(room: Room) -> None:
    session, (case, other), _, _ = opened(room)
    refused(room.say(JC, "protokoll export"), "Dazu gibt es kein Protokoll")
    room.say(JC, "anwesend")
    room.say(JA1, f"beschluss {case} Teilnahme am Projekt ab Januar")
    room.mod(f"beschluss {case} Schulbegleitung wird beantragt")
    end(room)
    before = room.last_outbox_id()
    start = len(room.audit())

    event, reply = send(room, JC, "protokoll export")

    assert reply == (
        f"📎 Protokoll von Termin #{session} als Markdown, PDF und JSON – verschlüsselte "
        "Anhänge folgen."
    )
    rows = room.outbox_after(before)
    assert len(rows) == 4
    files: dict[str, bytes] = {}
    for ext, mimetype in (
        ("md", "text/markdown; charset=utf-8"),
        ("pdf", "application/pdf"),
        ("json", "application/json"),
    ):
        row = reply_row(room, event, f"export-{ext}")
        content = row.content
        assert row.txn_id in [r.txn_id for r in rows]
        assert (row.event_type, row.room_id, row.requires_encryption) == (
            "m.room.message",
            rows[-1].room_id,
            True,
        )
        assert content["msgtype"] == "m.file"
        assert (
            content["body"]
            == content["filename"]
            == (f"protokoll-termin-{session}-2026-11-26.{ext}")
        )
        assert content["info"]["mimetype"] == content[UPLOAD_KEY]["mimetype"] == mimetype
        data = base64.b64decode(content[UPLOAD_KEY]["data"])
        assert content["info"]["size"] == len(data)
        files[ext] = data
    exported = json.loads(files["json"])
    assert exported["format"] == "fallkonferenz-protokoll"
    assert exported["termin"]["id"] == session
    assert exported["termin"]["quorum"] == 2
    assert exported["beschlussfähig"] is True  # the moderator (Jugendamt) and the Jobcenter
    assert exported["anwesenheit"] == [
        {"institution": JOBCENTER, "anwesend": [JC], "entschuldigt": False},
        {"institution": JUGENDAMT, "anwesend": [MOD], "entschuldigt": False},
    ]
    assert exported["bestätigt"] is None
    items = {p["pseudonym"]: p for p in exported["punkte"]}
    assert set(items) == {case, other}
    assert items[case]["beschlüsse"] == [
        "Teilnahme am Projekt ab Januar",
        "Schulbegleitung wird beantragt",
    ]
    assert items[other]["beschlüsse"] == []
    assert items[other]["vertagt"] == {"grund": "nicht behandelt", "auf": None}
    markdown = files["md"].decode()
    assert "Teilnahme am Projekt ab Januar" in markdown
    assert "Schulbegleitung wird beantragt" in markdown
    assert files["pdf"].startswith(b"%PDF-")
    pdf_text = "".join(p.extract_text() for p in PdfReader(io.BytesIO(files["pdf"])).pages)
    assert "Teilnahme am Projekt ab Januar" in pdf_text
    assert tail(room, start) == [("protokoll_exportiert", JC, None, {"termin": session})]


# -- übersicht --------------------------------------------------------------------------------


def test_uebersicht_is_for_moderation_only(room: Room) -> None:
    opened(room)
    before = room.snapshot()

    assert room.say(JA1, "übersicht") == role_refusal("übersicht")
    assert room.say(JC, "uebersicht") == role_refusal("übersicht")
    assert room.snapshot() == before


def test_uebersicht_shows_fill_level_waiting_overdue_and_unconfirmed(room: Room) -> None:
    session, (case, carried), _ = planned(room, 2)
    later = room.adhoc("17.12.2026 10:00")
    waiting = room.new_case()
    room.consent(waiting, "jugendamt,jobcenter")
    waiting_id, _ = room.request(waiting, "jugendamt,agentur")
    room.clock.set(DURING)
    room.mod("sitzung start")
    room.mod(f"lotse {case} {JC}")
    room.say(JA1, f"aufgabe {case} {JC} Unterlagen prüfen bis 01.12.2026")
    room.say(JA1, f"aufgabe {case} {JA1} Hilfeplan fortschreiben bis 15.01.2027")
    room.say(JA1, f"wiedervorlage {case} 10.12.2026")
    end(room)
    assert room.placements()[table(room, Carryover)[0].request_id] == later
    room.clock.set(utc("11.12.2026", "07:00"))
    room.run()  # reminders, then the Wiedervorlage is overdue

    reply = room.mod("übersicht")

    assert reply.startswith("📊 Übersicht – Stand Fr 11.12.2026 08:00"), reply
    assert items_after(reply, "Nächste Termine") == [
        f"#{later} Do 17.12.2026 10:00 Fallkonferenz: 1/6 Fälle, Tagesordnung Entwurf"
    ]
    assert "Anfragen ohne ausreichende Einwilligung: 1" in reply
    assert items_after(reply, "Anfragen ohne ausreichende Einwilligung") == [
        f"#{waiting_id} {waiting} – Ausbildung"
    ]
    assert "Überfällig: 1 Wiedervorlage, 1 Aufgabe" in reply
    assert items_after(reply, "Überfällig:") == [
        f"Wiedervorlage {case} seit 10.12.2026",
        f"Aufgabe {case}: {JC}, fällig 01.12.2026",
    ]
    assert items_after(reply, "Unbestätigte Protokolle: 1") == [f"Termin #{session}"]
    assert f"#{later} " in reply
    assert carried not in reply

    room.mod("protokoll bestätigen")
    room.say(JC, f"wiedervorlage erledigt {case}")
    after = room.mod("übersicht")
    assert "Überfällig: 0 Wiedervorlagen, 1 Aufgabe" in after
    assert "Unbestätigte Protokolle: 0" in after


# -- a whole conference -----------------------------------------------------------------------


def test_a_whole_conference_keeps_the_audit_chain_intact(room: Room) -> None:
    room.mod(WEEKLY.replace("plätze=2", "plätze=3"))
    made = [room.ready_case()[:2] for _ in range(3)]
    today = series_day(room, "25.11.2026")
    room.clock.set(utc("25.11.2026", "09:30"))
    opening, _ = send(room, MOD, "sitzung start")
    room.ack(txn_id_for(opening, "reply"), OPENING)
    room.react(JA1, OPENING, HAND_KEY)
    room.react(JC, OPENING, HAND_KEY)
    room.say(AA, "entschuldigt agentur")
    (first, _), (second, _), (third, _) = made
    decision = "Teilnahme am Jugendberufshilfe-Projekt ab Januar"
    task = "Termin bei der Berufsberatung vereinbaren"
    room.say(JA1, f"beschluss {first} {decision}")
    room.say(JA1, f"beschluss {first} Kontakt unter 0171 2345678")  # refused
    room.mod(f"lotse {first} {JC}")
    room.say(JA1, f"aufgabe {first} {JC} {task} bis 15.01.2027")
    room.say(JA1, f"wiedervorlage {first} 09.12.2026")
    room.mod(f"vertagen {second} grund=Schule fehlte")
    room.mod(f"erledigt {third}")
    assert room.agenda_ids(today) == [made[0][1], made[2][1]]
    event, _ = end(room)
    room.ack(txn_id_for(event, "reply"), MINUTES)
    room.react(MOD, MINUTES, "✅")
    room.say(JC, "protokoll export")
    for moment in ("02.12.2026", "08.12.2026", "10.12.2026"):
        room.clock.set(utc(moment, "07:00"))
        room.run()
    room.say(JC, f"wiedervorlage erledigt {first}")
    room.mod("übersicht")

    assert audit_chain_ok(room)
    actions = room.actions()
    for action in (
        "sitzung_eroeffnet",
        "anwesend",
        "entschuldigt",
        "beschluss",
        "lotse_bestimmt",
        "aufgabe",
        "wiedervorlage",
        "vertagt",
        "fall_erledigt",
        "anfrage_besprochen",
        "sitzung_beendet",
        "protokoll_bestaetigt",
        "protokoll_exportiert",
        "wiedervorlage_erledigt",
    ):
        assert action in actions, action
    assert actions.count("beschluss") == 1
    everything = json.dumps(
        [(e.action, e.pseudonym, e.detail) for e in room.audit()], ensure_ascii=False
    )
    for text in (decision, task, "Schule fehlte", "0171", "Berufsberatung"):
        assert text not in everything, text
    assert [r.state for r in table(room, Review)] == ["erledigt"]
    assert sitting(room, today).confirmed_by == MOD


# -- the largest session the configuration allows ------------------------------------------


def test_agenda_and_minutes_of_a_full_session_stay_whole_in_one_message(room: Room) -> None:
    """50 cases (the most `plätze=` allows), each with a decision of realistic length, a
    Lotse, a task and a review date: agenda and minutes are not cut."""
    session = room.adhoc(f"{THURSDAY} plätze=50")
    cases = [room.ready_case()[0] for _ in range(50)]
    assert len(room.agenda_ids(session)) == 50
    agenda = room.say(JA1, f"agenda {session}")
    assert all(p in agenda for p in cases)
    room.clock.set(DURING)
    send(room, MOD, "sitzung start")
    room.say(JA1, "anwesend")
    room.say(JC, "anwesend")
    decision = (
        "Teilnahme am Jugendberufshilfe-Projekt ab Januar; das Jobcenter prüft die "
        "Förderung, der Träger meldet freie Plätze bis zur nächsten Fallkonferenz zurück."
    )
    for case in cases:
        assert room.mod(f"beschluss {case} {decision}").startswith("📌 Beschluss 1"), case
        room.mod(f"lotse {case} {JC}")
        room.mod(f"aufgabe {case} {JC} Termin Berufsberatung vereinbaren bis 15.01.2027")
        room.mod(f"wiedervorlage {case} 15.03.2027")
    _, reply = end(room)
    minutes = minutes_part(reply)
    for body in (agenda, reply):
        assert "gekürzt" not in body
        assert len(body.encode()) < MAX_TEXT_BYTES, len(body.encode())
    assert [p for p in cases if p not in minutes] == []
    assert minutes.count(decision) == 50
