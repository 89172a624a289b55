"""The agenda (Tagesordnung) end to end: posted, confirmed, unlocked, edited, checked.

Commands and ✅ reactions go through ``Engine.ingest``, timed work through
``ReminderRunner.run_due``, both on a real database (SQLite and PostgreSQL) and one
fake clock. ``Room.ack`` plays the homeserver acknowledging the posted agenda, so
edits (``m.replace``) and replies can point at its event id. Every test checks the
rows and audit entries behind what the bot says.

The clock starts on Monday 23.11.2026, 10:00 in Berlin. A session on Thursday
26.11.2026 lies inside the posting window (three working days before it is Monday
23.11., 08:00, already past), so its agenda is due at once.
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

import pytest
from sqlalchemy import select

from bot.clock import FakeClock
from bot.ids import UserId
from bot.outbox import OutboxItem
from bot.reminders import ReminderRunner
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
    ORG,
    PREFIX,
    ROOM,
    USERS,
    Room,
    items_after,
    utc,
)
from bot.txn import txn_id_for
from domain.calendar import Calendar
from domain.dates import LOCAL_TZ
from storage.models import InboxEvent, Revocation
from storage.uow import Database, UnitOfWork

MODERATORS = [ADMIN, MOD]  # configured moderation; an admin may moderate too
THURSDAY = "26.11.2026 10:00"  # inside the posting window: the agenda is due at once
MATRIX_ID = re.compile(r"@[\w.=\-/]+:[\w.\-]+")


@pytest.fixture
def clock() -> FakeClock:
    # Monday 23.11.2026, 10:00 in Berlin (winter time, UTC+1).
    return FakeClock(datetime(2026, 11, 23, 9, 0, tzinfo=UTC))


@pytest.fixture
def room(database: Database, clock: FakeClock) -> Room:
    return Room(database, clock)


# -- helpers ----------------------------------------------------------------------------------


def agenda_txn(session_id: int) -> str:
    return txn_id_for(f"agenda:{session_id}", "agenda")


def post(room: Room, session_id: int) -> str:
    """Let the runner post the (due) agenda, acknowledge it; its event id."""
    rows = room.run_rows()
    assert [r.txn_id for r in rows if r.content["body"].startswith("📋")] == [
        agenda_txn(session_id)
    ], [r.content["body"] for r in rows]
    return room.ack(agenda_txn(session_id), f"$tagesordnung{session_id}")


def planned(room: Room, count: int = 2, when: str = THURSDAY) -> tuple[int, list[str]]:
    """A session with ``count`` placed cases; its number and the pseudonyms."""
    session = room.adhoc(when)
    cases = [room.ready_case()[0] for _ in range(count)]
    assert len(room.agenda_ids(session)) == count
    return session, cases


def posted(room: Room, count: int = 2) -> tuple[int, list[str], str]:
    """A session with placed cases whose agenda is posted and acknowledged."""
    session, cases = planned(room, count)
    return session, cases, post(room, session)


def is_edit(content: dict[str, Any]) -> bool:
    return bool(content.get("m.relates_to", {}).get("rel_type") == "m.replace")


def reply_target(content: dict[str, Any]) -> str | None:
    target = content.get("m.relates_to", {}).get("m.in_reply_to", {}).get("event_id")
    return str(target) if target is not None else None


def assert_edit_of(content: dict[str, Any], event_id: str) -> str:
    """An ``m.replace`` edit of ``event_id`` with a fallback; its new body."""
    assert content["m.relates_to"] == {"rel_type": "m.replace", "event_id": event_id}
    new = content["m.new_content"]
    assert new["msgtype"] == content["msgtype"] == "m.notice"
    assert content["body"] == "* " + new["body"]
    assert content["formatted_body"] == "* " + new["formatted_body"]
    assert "m.relates_to" not in new
    return str(new["body"])


def actions_since(room: Room, start: int) -> list[tuple[str, str, dict[str, Any]]]:
    return [(e.action, e.actor, e.detail) for e in room.audit()[start:]]


def agenda_state(room: Room, session_id: int) -> tuple[object, ...]:
    agenda = room.agenda(session_id)
    assert agenda is not None
    return (
        agenda.revision,
        agenda.confirmed_revision,
        agenda.confirmed_by,
        agenda.confirmed_at,
        agenda.dirty,
        agenda.reconfirm_notice,
        list(agenda.refused_reactors),
    )


def jobs(room: Room, session_id: int) -> list[tuple[object, ...]]:
    return [(r.kind, r.offset_minutes, r.due_at, r.state) for r in room.reminders(session_id)]


def berlin(day: date, at: time) -> datetime:
    return datetime.combine(day, at, tzinfo=LOCAL_TZ).astimezone(UTC)


def revoke_behind_the_bots_back(room: Room, pseudonym: str) -> None:
    """A revocation stored without the replan every command runs after it."""
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


# -- when the agenda is posted ----------------------------------------------------------------

POST_DAYS = [
    # session day → posting day (08:00 Berlin), three working days before in Hessen
    ("28.12.2026", date(2026, 12, 22), utc("22.12.2026", "07:00")),  # Christmas, weekend
    ("30.11.2026", date(2026, 11, 25), utc("25.11.2026", "07:00")),  # a plain weekend
    ("30.03.2027", date(2027, 3, 23), utc("23.03.2027", "07:00")),  # Easter
    ("01.04.2027", date(2027, 3, 25), utc("25.03.2027", "07:00")),  # Easter, across DST
    ("31.05.2027", date(2027, 5, 25), utc("25.05.2027", "06:00")),  # Fronleichnam, summer
]


@pytest.mark.parametrize(("session_day", "post_day", "due"), POST_DAYS)
def test_the_agenda_is_due_at_eight_three_working_days_ahead(
    room: Room, session_day: str, post_day: date, due: datetime
) -> None:
    """The posting row is due at 08:00 Berlin, three Hessian working days before."""
    session = room.adhoc(f"{session_day} 10:00")
    starts = room.session(session).starts_at.astimezone(LOCAL_TZ).date()
    assert Calendar(land="HE").working_days_before(starts, 3) == post_day
    [row] = room.reminders(session, "tagesordnung")
    assert (row.due_at, row.state, row.offset_minutes) == (due, "offen", 0)
    assert berlin(post_day, time(8, 0)) == due


def test_the_agenda_is_posted_once_at_its_due_time_and_never_again(room: Room) -> None:
    """Nothing a minute early, exactly one post at 08:00, none on later runs."""
    session, cases = planned(room, 1, "28.12.2026 10:00")
    due = utc("22.12.2026", "07:00")
    assert room.run() == []
    room.clock.set(utc("21.12.2026", "09:00"))  # the one-week reminder comes first
    [week] = room.run()
    assert week["body"].startswith("⏰ Erinnerung:"), week["body"]

    room.clock.set(due - timedelta(minutes=1))
    assert room.run() == []
    assert room.agenda(session) is None

    room.clock.set(due)
    [row] = room.run_rows()
    assert row.txn_id == agenda_txn(session)
    assert row.content["body"].startswith(f"📋 Tagesordnung Fallkonferenz – Termin #{session}, ")
    assert cases[0] in row.content["body"]
    agenda = room.agenda(session)
    assert agenda is not None
    assert (agenda.post_txn_id, agenda.posted_at, agenda.dirty) == (row.txn_id, due, False)
    [job] = room.reminders(session, "tagesordnung")
    assert (job.state, job.sent_at) == ("gesendet", due)
    [sent] = [e for e in room.audit() if e.action == "agenda_gesendet"]
    assert (sent.actor, sent.at, sent.detail) == ("fkbot", due, {"termin": session, "fassung": 0})

    assert room.run() == []
    room.clock.set(due + timedelta(hours=3))
    assert room.run() == []
    assert room.actions().count("agenda_gesendet") == 1


def test_a_session_created_inside_the_window_gets_its_agenda_at_the_next_run(
    room: Room,
) -> None:
    """Posting late beats not posting: a session for tomorrow is posted at once."""
    session = room.adhoc("morgen 9 Uhr")
    [job] = room.reminders(session, "tagesordnung")
    assert (job.due_at, job.state) == (room.clock.now(), "offen")
    case = room.ready_case()[0]
    [content] = room.run()
    assert content["body"].startswith(f"📋 Tagesordnung Fallkonferenz – Termin #{session}, ")
    assert case in content["body"]
    assert room.run() == []


def test_an_empty_agenda_is_not_posted_but_looked_at_again_hourly(room: Room) -> None:
    """Nothing placed yet: no empty list in the room; an hour later it is posted with its case."""
    session = room.adhoc("morgen 9 Uhr")
    first = room.clock.now()

    assert room.run() == []

    [job] = room.reminders(session, "tagesordnung")
    assert (job.due_at, job.state, job.sent_at) == (first + timedelta(hours=1), "offen", None)
    assert "agenda_gesendet" not in room.actions()
    case = room.ready_case()[0]
    assert room.run() == []  # not due again yet
    room.clock.set(first + timedelta(hours=1))
    [content] = room.run()
    assert case in content["body"]
    [job] = room.reminders(session, "tagesordnung")
    assert job.state == "gesendet"


def test_agenda_working_days_zero_posts_nothing_automatically(
    database: Database, clock: FakeClock
) -> None:
    """With ``agenda_working_days=0`` only ``agenda senden`` posts the agenda."""
    room = Room(database, clock, Calendar(land="HE", agenda_working_days=0))
    session, _ = planned(room, 1)
    assert room.reminders(session, "tagesordnung") == []
    starts = room.session(session).starts_at
    seen: list[dict[str, Any]] = []
    for moment in (starts - timedelta(days=2), starts - timedelta(hours=2), starts):
        room.clock.set(moment)
        seen += room.run()
    assert seen, "the session reminders still run"
    assert not [c for c in seen if c["body"].startswith("📋")]
    assert room.agenda(session) is None
    assert "agenda_gesendet" not in room.actions()


def test_agenda_senden_posts_now_for_moderation_only_and_once(room: Room) -> None:
    """``agenda senden``: moderation only; posted by the next run; refused once posted."""
    session, _ = planned(room, 1, "28.12.2026 10:00")
    before = (jobs(room, session), room.actions())

    refused = room.say(JA1, f"agenda senden {session}")
    assert refused == f"⚠️ „{PREFIX} agenda senden“ ist der Rolle „moderation“ vorbehalten."
    assert (jobs(room, session), room.actions()) == before
    assert room.last_inbox_outcome() == "user_error"

    reply = room.mod(f"agenda senden {session}")
    assert reply == f"📋 Die Tagesordnung von Termin #{session} kommt gleich als eigene Nachricht."
    assert room.mod(f"agenda senden {session}") == reply  # not posted yet: same job, re-armed
    [job] = room.reminders(session, "tagesordnung")
    assert (job.due_at, job.state) == (room.clock.now(), "offen")

    [row] = room.run_rows()
    assert row.txn_id == agenda_txn(session)
    assert room.run() == []

    again = room.mod(f"agenda senden {session}")
    assert again.startswith(
        f"⚠️ Die Tagesordnung von Termin #{session} steht schon im Raum; "
        "Änderungen bearbeite ich dort."
    ), again
    assert room.last_inbox_outcome() == "user_error"
    room.clock.set(utc("22.12.2026", "07:00"))  # the original due time brings no second post
    assert [c["body"].split(":")[0] for c in room.run()] == ["⏰ Erinnerung"]
    [job] = room.reminders(session, "tagesordnung")
    assert job.state == "gesendet"
    assert room.actions().count("agenda_gesendet") == 1


def test_agenda_senden_on_an_empty_agenda_does_not_promise_a_message(room: Room) -> None:
    """``agenda senden`` either posts, or does not say that it will."""
    session = room.adhoc("28.12.2026 10:00")

    reply = room.mod(f"agenda senden {session}")
    posts = [c for c in room.run() if c["body"].startswith("📋")]

    assert posts or "kommt gleich" not in reply, reply


# -- what the posted agenda says --------------------------------------------------------------


def test_the_posted_agenda_shows_pseudonyms_institutions_and_slots_only(room: Room) -> None:
    """Pseudonyms, topics, institutions, slot times, § 8a mark; encrypted; moderators pinged."""
    session = room.adhoc(f"{THURSDAY} minuten=25")
    first, _, _ = room.ready_case(sender=JC, participants="jugendamt")
    second, _, _ = room.ready_case(sender=AA, topic="Familie", participants="jugendamt,jobcenter")
    protected = room.new_case()
    room.request(protected, "agentur", sender=JA2, topic="Kinderschutz")
    room.say(JA1, f"schutzauftrag {protected} grund=kw-gefaehrdung")
    room.say(JA2, f"schutzauftrag bestätigen {protected}")

    [row] = room.run_rows()

    content = row.content
    assert (row.txn_id, row.room_id, row.requires_encryption) == (agenda_txn(session), ROOM, True)
    assert content["msgtype"] == "m.notice"
    assert content["m.mentions"] == {"user_ids": MODERATORS}
    assert "m.relates_to" not in content
    body = content["body"]
    assert body.startswith(
        f"📋 Tagesordnung Fallkonferenz – Termin #{session}, Do 26.11.2026 10:00–12:00\n\n"
    )
    assert items_after(body, "Tagesordnung") == [
        f"10:00 {first} – Ausbildung, angefragt von {JOBCENTER}; "
        f"Teilnehmende: {JOBCENTER}, {JUGENDAMT}",
        f"10:25 {second} – Familie, angefragt von {AGENTUR}; "
        f"Teilnehmende: {AGENTUR}, {JOBCENTER}, {JUGENDAMT}",
        f"10:50 {protected} – Kinderschutz, angefragt von {JUGENDAMT}; "
        f"Teilnehmende: {AGENTUR}, {JUGENDAMT} · § 8a SGB VIII",
    ]
    assert body.endswith(
        "⏳ Noch nicht bestätigt (Fassung 0). Moderation: ✅ auf diese Nachricht oder "
        f"`{PREFIX} agenda bestätigen {session}`."
    )
    assert body == room.say(JC, f"agenda {session}")  # the room and the command agree
    for text in (body, content["formatted_body"]):
        assert MATRIX_ID.findall(text) == []
        for user in USERS:
            assert user.split(":")[0].lstrip("@") not in text
        for secret in ("EW-17", "sorgeberechtigte", "schriftlich", "kw-gefaehrdung"):
            assert secret not in text
    assert f"<b>{protected}</b>" in content["formatted_body"]

    room.ack(row, "$tagesordnung")
    room.mod(f"agenda bestätigen {session}")
    [edit] = room.run()
    new_body = assert_edit_of(edit, "$tagesordnung")
    assert MATRIX_ID.findall(new_body) == [MOD]  # only the confirming moderator's id
    assert MATRIX_ID.findall(edit["m.new_content"]["formatted_body"]) == [MOD]
    assert items_after(new_body, "Tagesordnung") == items_after(body, "Tagesordnung")


# -- confirmation ------------------------------------------------------------------------------


def test_agenda_bestaetigen_confirms_once_with_an_audit_entry(room: Room) -> None:
    """Moderation confirms: an audit entry with termin and fassung; the second time says so."""
    session, _, _ = posted(room)
    start = len(room.audit())

    reply = room.mod(f"agenda bestätigen {session}")

    assert reply == (
        f"✅ Tagesordnung von Termin #{session} (Do 26.11.2026 10:00, 2 Fälle) "
        "bestätigt, Fassung 0. Jede Änderung hebt die Bestätigung auf."
    )
    [entry] = room.audit()[start:]
    assert (entry.action, entry.actor, entry.institution, entry.pseudonym, entry.detail) == (
        "agenda_bestaetigt",
        MOD,
        "jugendamt",
        None,
        {"termin": session, "fassung": 0},
    )
    agenda = room.agenda(session)
    assert agenda is not None
    assert agenda.confirmed
    assert (agenda.confirmed_revision, agenda.confirmed_by) == (0, MOD)
    assert agenda.confirmed_at == entry.at

    again = room.mod(f"agenda bestätigen {session}")
    assert again.startswith(
        f"Die Tagesordnung von Termin #{session} ist bereits bestätigt (von {MOD} am "
    ), again
    assert again.endswith(", Fassung 0).")
    assert room.actions().count("agenda_bestaetigt") == 1
    assert room.agenda(session) is not None
    assert agenda_state(room, session)[:4] == (0, 0, MOD, agenda.confirmed_at)


def test_a_fachkraft_cannot_confirm_the_agenda(room: Room) -> None:
    """``agenda bestätigen`` by a caseworker is refused and changes nothing."""
    session, _, _ = posted(room)
    before = (agenda_state(room, session), room.actions())

    reply = room.say(JC, f"agenda bestätigen {session}")

    assert reply.startswith(f"⚠️ „{PREFIX} agenda bestätigen“ ist der Rolle „moderation“")
    assert room.last_inbox_outcome() == "user_error"
    assert (agenda_state(room, session), room.actions()) == before
    assert room.run() == []  # nothing to edit


def test_the_confirmation_is_edited_into_the_posted_agenda_after_the_ack(room: Room) -> None:
    """The runner edits only an acknowledged message, once per change, never without one."""
    session, cases = planned(room)
    [row] = room.run_rows()
    room.mod(f"agenda bestätigen {session}")
    assert room.run() == []  # the post has no event id yet: nothing to point an edit at
    room.clock.advance(timedelta(minutes=1))
    assert room.run() == []

    event_id = room.ack(row, "$tagesordnung")
    [edit_row] = room.run_rows()

    assert edit_row.txn_id == txn_id_for(f"agenda:{session}:1", "agenda-edit")
    assert edit_row.requires_encryption
    new_body = assert_edit_of(edit_row.content, event_id)
    assert re.search(
        rf"✅ Bestätigt von {re.escape(MOD)} am 23\.11\.2026 10:0\d Uhr \(Fassung 0\)\.$",
        new_body,
    ), new_body
    assert "Noch nicht bestätigt" not in new_body
    assert all(case in new_body for case in cases)
    agenda = room.agenda(session)
    assert agenda is not None
    assert (agenda.edits, agenda.dirty, agenda.post_txn_id) == (1, False, row.txn_id)

    assert room.run() == []  # nothing changed: no second edit
    room.clock.advance(timedelta(hours=1))
    assert room.run() == []
    agenda = room.agenda(session)
    assert agenda is not None
    assert agenda.edits == 1


# -- ✅ reactions ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("sender", "power_level"),
    [(MOD, 0), (JC, 50)],
    ids=["configured-moderator", "power-level-moderator"],
)
def test_a_moderators_check_mark_on_the_agenda_confirms_it(
    room: Room, sender: UserId, power_level: int
) -> None:
    """✅ by moderation on the posted agenda = ``agenda bestätigen``, handled once."""
    session, _, event_id = posted(room)
    start = len(room.audit())

    [reply] = room.react(sender, event_id, power_level=power_level, event_id="$haken")

    assert reply.startswith(f"✅ Tagesordnung von Termin #{session} (Do 26.11.2026 10:00, ")
    assert actions_since(room, start) == [
        ("agenda_bestaetigt", sender, {"termin": session, "fassung": 0})
    ]
    assert agenda_state(room, session)[1:3] == (0, sender)
    [answer] = room.outbox()[-1:]
    assert reply_target(answer.content) == event_id
    assert answer.content["m.mentions"] == {"user_ids": [sender]}
    assert answer.requires_encryption
    with room.db.uow() as uow:
        inbox = uow.session.get(InboxEvent, "$haken")
        assert inbox is not None
        assert (inbox.kind, inbox.outcome, inbox.sender) == ("reaction", "ok", sender)

    assert room.react(sender, event_id, power_level=power_level, event_id="$haken") == []
    [edit] = room.run()
    assert MATRIX_ID.findall(assert_edit_of(edit, event_id)) == [sender]
    [again] = room.react(sender, event_id, power_level=power_level)
    assert "ist bereits bestätigt" in again
    assert room.actions().count("agenda_bestaetigt") == 1


def test_a_caseworkers_check_mark_does_not_confirm_and_is_answered_once(room: Room) -> None:
    """✅ by a caseworker: one notice per person and agenda, no confirmation, no audit."""
    session, _, event_id = posted(room)
    actions = room.actions()
    notice = (
        "ℹ️ Dein ✅ bestätigt die Tagesordnung nicht: das kann nur die Moderation. "
        "Ich sage das nur einmal."
    )

    assert room.react(JA1, event_id) == [notice]
    assert room.react(JA1, event_id) == []
    assert room.react(JA1, event_id, "✅\ufe0f") == []  # the emoji-presentation variant
    assert room.react(JC, event_id) == [notice]
    assert room.react(JC, event_id) == []

    agenda = room.agenda(session)
    assert agenda is not None
    assert not agenda.confirmed
    assert (agenda.confirmed_revision, agenda.confirmed_by) == (None, None)
    assert agenda.refused_reactors == [JA1, JC]
    assert room.actions() == actions
    assert room.run() == []  # nothing to edit


def test_other_targets_and_other_keys_do_nothing(room: Room) -> None:
    """✅ on another message, or 👍 on the agenda: no reply, no inbox row, no change."""
    session, _, event_id = posted(room)
    other = room.outbox()[0]  # a reply of the bot, acknowledged like any message
    room.ack(other, "$andere")
    before = (agenda_state(room, session), room.actions())

    assert room.react(MOD, "$andere", event_id="$r1") == []
    assert room.react(MOD, "$unbekannt", event_id="$r2") == []
    assert room.react(MOD, event_id, "👍", event_id="$r3") == []
    assert room.react(JA1, event_id, "👍", event_id="$r4") == []

    assert (agenda_state(room, session), room.actions()) == before
    with room.db.uow() as uow:
        seen = uow.session.scalars(
            select(InboxEvent.event_id).where(InboxEvent.kind == "reaction")
        ).all()
        assert seen == []
    assert room.run() == []


# -- changes unlock the agenda ----------------------------------------------------------------

CHANGES = ["widerruf", "neuer-fall", "verschieben", "absagen"]


@pytest.mark.parametrize("change", CHANGES)
def test_a_change_unlocks_the_confirmed_agenda_and_edits_it_once(room: Room, change: str) -> None:
    """Any change: new revision, ``agenda_entsperrt``, one edit, one request to reconfirm."""
    session, (a, b), event_id = posted(room)
    room.mod(f"agenda bestätigen {session}")
    [_] = room.run()  # the confirmation edit
    start = len(room.audit())

    if change == "widerruf":
        room.say(JA1, f"widerruf {a}")
    elif change == "neuer-fall":
        c, _, reply = room.ready_case()
        assert f"eingeplant: Termin #{session}" in reply
    elif change == "verschieben":
        room.mod(f"termin verschieben {session} 27.11.2026 11:00")
    else:
        room.mod(f"termin absagen {session}")

    agenda = room.agenda(session)
    assert agenda is not None
    assert (agenda.revision, agenda.confirmed_revision, agenda.confirmed) == (1, 0, False)
    unlocks = [(x, d) for x, _, d in actions_since(room, start) if x == "agenda_entsperrt"]
    assert unlocks == [("agenda_entsperrt", {"termin": session})]

    rows = room.run_rows()
    edits = [r for r in rows if is_edit(r.content)]
    notices = [r for r in rows if not is_edit(r.content)]
    [edit] = edits
    assert edit.txn_id == txn_id_for(f"agenda:{session}:2", "agenda-edit")
    new_body = assert_edit_of(edit.content, event_id)
    if change == "absagen":
        assert "❌ Dieser Termin ist abgesagt." in new_body
        assert a not in new_body
        assert b not in new_body
        assert notices == []  # nothing to confirm any more
    else:
        assert "⏳ Noch nicht bestätigt (Fassung 1)." in new_body
        assert "Bestätigt von" not in new_body
        [notice] = notices
        assert notice.txn_id == txn_id_for(f"unlock:{session}:1", "agenda")
        assert notice.requires_encryption
        assert reply_target(notice.content) == event_id
        assert notice.content["m.mentions"] == {"user_ids": MODERATORS}
        assert notice.content["body"].startswith(
            f"🔓 Tagesordnung geändert: Termin #{session} (Fassung 1). Die Bestätigung ist "
            "aufgehoben – bitte neu prüfen und bestätigen"
        )
    if change == "widerruf":
        assert a not in new_body
        assert b in new_body
    if change == "neuer-fall":
        assert [a in new_body, b in new_body, c in new_body] == [True, True, True]
    if change == "verschieben":
        assert f"Termin #{session}, Fr 27.11.2026 11:00–13:00" in new_body

    assert room.run() == []
    room.clock.advance(timedelta(minutes=5))
    assert room.run() == []
    room.check_placements_audited()


def test_changes_between_two_runs_become_one_edit_and_one_request(room: Room) -> None:
    """Two changes before the runner looks: one edit with both, one unlock, one notice."""
    session, (a, b), event_id = posted(room)
    room.mod(f"agenda bestätigen {session}")
    room.run()
    start = len(room.audit())

    room.say(JA1, f"widerruf {a}")
    c = room.ready_case()[0]

    assert [x for x, _, _ in actions_since(room, start)].count("agenda_entsperrt") == 1
    rows = room.run_rows()
    [edit] = [r for r in rows if is_edit(r.content)]
    [notice] = [r for r in rows if not is_edit(r.content)]
    new_body = assert_edit_of(edit.content, event_id)
    assert (a in new_body, b in new_body, c in new_body) == (False, True, True)
    assert "⏳ Noch nicht bestätigt (Fassung 2)." in new_body
    assert notice.txn_id == txn_id_for(f"unlock:{session}:2", "agenda")
    assert "(Fassung 2)" in notice.content["body"]
    assert room.run() == []


def test_a_moved_session_keeps_its_posted_agenda_and_is_not_posted_again(room: Room) -> None:
    """Moved beyond the window after posting: edited in place, no second post later."""
    session, (a, _), event_id = posted(room)

    room.mod(f"termin verschieben {session} 10.12.2026 10:00")

    [job] = room.reminders(session, "tagesordnung")
    assert (job.due_at, job.state) == (utc("07.12.2026", "07:00"), "offen")
    [edit] = room.run()
    assert "Termin #" + str(session) + ", Do 10.12.2026 10:00–12:00" in assert_edit_of(
        edit, event_id
    )
    room.clock.set(utc("03.12.2026", "09:00"))
    [week] = room.run()
    assert week["body"].startswith("⏰ Erinnerung:")
    room.clock.set(utc("07.12.2026", "07:00"))
    assert room.run() == []
    [job] = room.reminders(session, "tagesordnung")
    assert job.state == "gesendet"
    assert room.actions().count("agenda_gesendet") == 1
    assert [r.txn_id for r in room.outbox()].count(agenda_txn(session)) == 1
    assert a in room.say(JC, f"agenda {session}")


def test_the_reconfirmed_agenda_is_edited_again(room: Room) -> None:
    """Unlock, reconfirm at the new revision: audit fassung 1, one more edit."""
    session, (a, _), event_id = posted(room)
    room.mod(f"agenda bestätigen {session}")
    room.run()
    room.say(JA1, f"widerruf {a}")
    room.run()
    start = len(room.audit())

    room.mod(f"agenda bestätigen {session}")

    assert actions_since(room, start) == [
        ("agenda_bestaetigt", MOD, {"termin": session, "fassung": 1})
    ]
    [edit] = room.run()
    assert assert_edit_of(edit, event_id).endswith("(Fassung 1).")
    assert "✅ Bestätigt von" in edit["body"]


# -- the gate again: at confirmation and at the start -----------------------------------------


def test_confirmation_rechecks_the_gate_and_shows_the_new_revision_first(room: Room) -> None:
    """A case the gate no longer allows comes off before confirming; the second call confirms.

    Every command that changes a case's facts replans at once, so a placement the gate
    refuses cannot arise through commands; the revocation here is stored directly.
    """
    session, (a, b), event_id = posted(room)
    room.mod(f"agenda bestätigen {session}")
    room.run()
    revoke_behind_the_bots_back(room, a)
    start = len(room.audit())

    reply = room.mod(f"agenda bestätigen {session}")

    assert reply.startswith(
        f"⚠️ Die Tagesordnung von Termin #{session} hat sich bei der Prüfung der "
        "Einwilligungen geändert. Bitte die neue Fassung prüfen und dann erneut bestätigen:"
    ), reply
    shown = reply.split("📋", 1)[1]
    assert a not in shown
    assert b in shown
    assert "⏳ Noch nicht bestätigt (Fassung 1)." in shown
    assert [(x, actor) for x, actor, _ in actions_since(room, start)] == [
        ("agenda_entfernt", MOD),
        ("agenda_entsperrt", MOD),
    ]
    agenda = room.agenda(session)
    assert agenda is not None
    assert (agenda.revision, agenda.confirmed) == (1, False)

    confirmed = room.mod(f"agenda bestätigen {session}")
    assert confirmed.startswith(f"✅ Tagesordnung von Termin #{session} ("), confirmed
    assert "1 Fall) bestätigt, Fassung 1." in confirmed
    assert actions_since(room, start)[-1] == (
        "agenda_bestaetigt",
        MOD,
        {"termin": session, "fassung": 1},
    )
    [edit] = room.run()  # one edit; the unlock notice is moot, it was reconfirmed
    new_body = assert_edit_of(edit, event_id)
    assert a not in new_body
    assert "✅ Bestätigt von" in new_body
    room.check_placements_audited()


def test_agenda_bestaetigen_after_the_start_does_not_confirm_a_revoked_case(room: Room) -> None:
    """After the start, confirming must not lock in a case revoked in the meantime."""
    session, (a, _), _ = posted(room)
    starts = room.session(session).starts_at
    room.clock.set(starts - timedelta(minutes=5))
    room.run()  # the one-hour reminder
    room.clock.set(starts - timedelta(seconds=1))
    room.say(JA1, f"widerruf {a}")  # at the very start: the session is no longer replanned
    assert a in room.say(JC, f"agenda {session}")

    reply = room.mod(f"agenda bestätigen {session}")

    assert "agenda_bestaetigt" not in room.actions(), reply
    agenda = room.agenda(session)
    assert agenda is None or not agenda.confirmed


def start_case(room: Room, how: str) -> str:
    """A case placed on the session: by consent or by a confirmed Schutzauftrag."""
    if how == "widerruf":
        return room.ready_case()[0]
    pseudonym = room.new_case()
    room.request(pseudonym, "jugendamt", topic="Kinderschutz")
    room.say(JA1, f"schutzauftrag {pseudonym} grund=kw-gefaehrdung")
    room.say(JA2, f"schutzauftrag bestätigen {pseudonym}")
    return pseudonym


@pytest.mark.parametrize("how", ["widerruf", "schutzauftrag beenden"])
def test_the_start_check_takes_off_a_case_the_gate_no_longer_covers(room: Room, how: str) -> None:
    """At the start the runner checks once more: off the agenda, audited, moderation told.

    A revocation (or the end of a Schutzauftrag) in the minute the session begins no
    longer replans it (it has begun); the start check catches it.
    """
    session = room.adhoc("morgen 9 Uhr")
    kept = room.ready_case()[0]
    gone = start_case(room, how)
    request_id = room.agenda_ids(session)[1]
    event_id = post(room, session)
    starts = room.session(session).starts_at
    room.clock.set(starts - timedelta(minutes=5))
    [_] = room.run()  # the one-hour reminder
    room.clock.set(starts - timedelta(seconds=1))
    room.say(JA1, f"{how} {gone}")
    assert request_id in room.agenda_ids(session)  # the session has begun: no replan
    start = len(room.audit())

    rows = room.run_rows()

    assert [(e.action, e.actor, e.pseudonym, e.detail) for e in room.audit()[start:]] == [
        (
            "agenda_entfernt",
            "fkbot",
            gone,
            {"anfrage": request_id, "termin": session, "grund": "sitzungsbeginn"},
        )
    ]
    assert request_id not in room.agenda_ids(session)
    edits = [r for r in rows if is_edit(r.content)]
    [notice] = [r for r in rows if not is_edit(r.content)]
    assert notice.content["body"].startswith(
        f"🔎 Prüfung zu Sitzungsbeginn: Termin #{session} – die Einwilligung deckt diese "
        "Fälle heute nicht mehr"
    )
    assert f"nicht besprochen: {gone}." in notice.content["body"]
    assert kept not in notice.content["body"]
    assert reply_target(notice.content) == event_id
    assert notice.content["m.mentions"] == {"user_ids": MODERATORS}
    assert notice.requires_encryption
    [edit] = edits
    new_body = assert_edit_of(edit.content, event_id)
    assert gone not in new_body
    assert kept in new_body
    [check] = room.reminders(session, "beginn")
    assert (check.state, check.sent_at) == ("gesendet", room.clock.now())
    assert room.run() == []
    room.check_placements_audited()


def test_the_start_check_says_nothing_when_every_case_is_covered(room: Room) -> None:
    """Nothing to take off: no message, no audit entry, the check is done."""
    session, cases, _ = posted(room)
    starts = room.session(session).starts_at
    room.clock.set(starts - timedelta(minutes=5))
    room.run()
    actions = room.actions()
    room.clock.set(starts)

    assert room.run() == []

    assert room.actions() == actions
    assert len(room.agenda_ids(session)) == len(cases)
    [check] = room.reminders(session, "beginn")
    assert check.state == "gesendet"


def test_the_start_check_does_not_ask_to_reconfirm_a_session_that_has_begun(room: Room) -> None:
    """After the start nothing can be confirmed any more: no 🔓 reconfirmation request."""
    session, (a, _), event_id = posted(room)
    room.mod(f"agenda bestätigen {session}")
    room.run()
    starts = room.session(session).starts_at
    room.clock.set(starts - timedelta(minutes=5))
    room.run()
    room.clock.set(starts - timedelta(seconds=1))
    room.say(JA1, f"widerruf {a}")

    contents = room.run()

    assert any(c["body"].startswith("🔎 Prüfung zu Sitzungsbeginn") for c in contents)
    assert room.react(MOD, event_id) == [
        f"⚠️ Termin #{session} ist abgesagt oder hat schon begonnen; seine Tagesordnung wird "
        "nicht mehr bestätigt."
    ]
    assert not [c for c in contents if "bitte neu prüfen und bestätigen" in c["body"]]


# -- reminders ---------------------------------------------------------------------------------


def confirm_reminder_txn(room: Room, session_id: int) -> str:
    [row] = room.reminders(session_id, "bestätigung")
    return txn_id_for(f"confirm:{row.id}", "reminder")


def test_an_unconfirmed_agenda_is_reminded_once_a_day_before(room: Room) -> None:
    """``bestätigung`` fires 1440 minutes before the start, once, replying to the agenda."""
    session, _, event_id = posted(room)
    due = room.session(session).starts_at - timedelta(minutes=1440)
    [job] = room.reminders(session, "bestätigung")
    assert (job.due_at, job.state) == (due, "offen")

    room.clock.set(due - timedelta(minutes=1))
    assert room.run() == []
    room.clock.set(due)
    rows = {r.txn_id: r for r in room.run_rows()}

    reminder = rows.pop(confirm_reminder_txn(room, session))
    assert reminder.content["body"].startswith(
        f"⏳ Tagesordnung nicht bestätigt: Fallkonferenz (Termin #{session}) am "
        "Do 26.11.2026 10:00. Bitte prüfen und bestätigen"
    )
    assert f"An die Moderation: {', '.join(MODERATORS)}" in reminder.content["body"]
    assert reminder.content["m.mentions"] == {"user_ids": MODERATORS}
    assert reply_target(reminder.content) == event_id
    assert [r.content["body"].split(":")[0] for r in rows.values()] == ["⏰ Erinnerung"]
    [job] = room.reminders(session, "bestätigung")
    assert (job.state, job.sent_at) == ("gesendet", due)
    assert room.run() == []
    room.clock.advance(timedelta(hours=1))
    assert room.run() == []


def test_a_confirmed_or_empty_agenda_gets_no_confirmation_reminder(room: Room) -> None:
    """Confirmed, or nothing on it: the ``bestätigung`` row becomes hinfällig, silently."""
    confirmed, _ = planned(room, 1)
    empty = room.adhoc("27.11.2026 10:00")
    assert room.agenda_ids(empty) == []
    room.mod(f"agenda bestätigen {confirmed}")
    room.run()

    seen: list[dict[str, Any]] = []
    for session in (confirmed, empty):
        room.clock.set(room.session(session).starts_at - timedelta(minutes=1440))
        seen += room.run()

    assert [c for c in seen if c["body"].startswith("⏰ Erinnerung")]
    assert not [c for c in seen if "Tagesordnung nicht bestätigt" in c["body"]]
    for session in (confirmed, empty):
        [job] = room.reminders(session, "bestätigung")
        assert (job.state, job.sent_at) == ("hinfällig", None)


def test_session_reminders_reply_to_the_agenda_once_it_is_acknowledged(room: Room) -> None:
    """``termin`` reminders point at the posted agenda once it has an event id."""
    session, _ = planned(room, 1)
    [row] = room.run_rows()
    room.mod(f"agenda bestätigen {session}")  # no confirmation reminder in the way
    starts = room.session(session).starts_at

    room.clock.set(starts - timedelta(days=1))
    [day_before] = room.run()
    assert day_before["body"].startswith("⏰ Erinnerung:")
    assert "in 1 Tag." in day_before["body"]
    assert "m.relates_to" not in day_before  # no event id yet

    event_id = room.ack(row, "$tagesordnung")
    [_] = room.run()  # the confirmation edit, now that it can point somewhere
    room.clock.set(starts - timedelta(hours=1))
    [hour_before] = room.run_rows()
    assert hour_before.content["body"].startswith("⏰ Erinnerung:")
    assert "in 1 Stunde." in hour_before.content["body"]
    assert hour_before.content["m.relates_to"] == {"m.in_reply_to": {"event_id": event_id}}
    assert not is_edit(hour_before.content)


# -- exactly once -----------------------------------------------------------------------------


def test_runs_at_the_same_time_and_after_a_restart_never_repeat_a_message(room: Room) -> None:
    """Two runs, or a fresh runner (a restart), post, edit and remind exactly once."""
    session, _ = planned(room, 1)
    runner = room.runner
    [first] = room.run_rows(runner)
    assert room.run(runner) == []
    assert room.run() == []  # a fresh runner on the same database
    room.ack(first, "$tagesordnung")
    room.mod(f"agenda bestätigen {session}")
    assert len(room.run(runner)) == 1
    assert room.run(runner) == []
    assert room.run() == []
    room.clock.set(room.session(session).starts_at - timedelta(days=1))
    assert len(room.run()) == 1
    assert room.run(runner) == []
    assert room.run() == []

    txn_ids = [r.txn_id for r in room.outbox()]
    assert len(txn_ids) == len(set(txn_ids))
    assert txn_ids.count(agenda_txn(session)) == 1
    assert room.actions().count("agenda_gesendet") == 1


class CrashingRunner(ReminderRunner):
    """Dies in the middle of its transaction, after the posts are written."""

    def _edit_agendas(self, uow: UnitOfWork, now: datetime) -> list[OutboxItem]:
        raise RuntimeError("kill -9")


def test_a_crash_inside_the_run_leaves_nothing_and_the_next_run_posts_once(room: Room) -> None:
    """A run that dies before its commit writes nothing; the next one does it all once."""
    session, _ = planned(room, 1)
    before = room.last_outbox_id()

    with pytest.raises(RuntimeError, match="kill -9"):
        CrashingRunner(room.db, room.clock, ORG, prefix=PREFIX, calendar=room.calendar).run_due()

    assert room.last_outbox_id() == before
    assert room.agenda(session) is None
    [job] = room.reminders(session, "tagesordnung")
    assert job.state == "offen"
    [row] = room.run_rows()
    assert row.txn_id == agenda_txn(session)
    assert room.run() == []


def test_a_crash_after_the_commit_does_not_post_again(room: Room) -> None:
    """Committed but not handed to the sender: the row waits in the outbox, not re-posted."""
    session, _ = planned(room, 1)
    before = room.last_outbox_id()

    def die(items: list[OutboxItem]) -> None:
        raise RuntimeError("kill -9")

    with pytest.raises(RuntimeError, match="kill -9"):
        ReminderRunner(
            room.db, room.clock, ORG, die, prefix=PREFIX, calendar=room.calendar
        ).run_due()

    [row] = room.outbox_after(before)
    assert (row.txn_id, row.state) == (agenda_txn(session), "pending")
    assert room.run() == []
    with room.db.uow() as uow:
        assert row.txn_id in [m.txn_id for m in uow.outbox.due(room.clock.now())]
