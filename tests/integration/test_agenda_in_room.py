"""Sessions, agendas, reminders, polls and calendar files as the people in the room see them.

PRODUCT.md steps 6–7 end to end: a real bot with a controllable clock on the test
Synapse, real matrix-nio clients of several institutions in an encrypted room.
Synapse and the clients run in real time; the bot's clock jumps to the moments that
matter (the agenda's posting time, a day and an hour before the session) and its
timer is fired at once, as APScheduler would do at that moment. Every assertion is
on what arrives in the room: decrypted messages, edits (``m.replace``), replies,
poll events and the encrypted calendar attachment.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Callable
from datetime import UTC, datetime, time, timedelta
from pathlib import Path

import icalendar
import pytest
import vobject

from bot.reminders import ReminderRunner
from bot.testing.inroom import (
    AGENDA_HEAD,
    PSEUDONYM,
    SESSION_ID,
    LiveRoom,
    People,
    Planned,
    agenda_room,
    consent,
    one,
    post_agenda,
    session_day,
    ten_o_clock,
)
from bot.testing.peers import Participant, Seen
from bot.upload import UPLOAD_KEY
from domain.dates import LOCAL_TZ, local_date

pytestmark = pytest.mark.synapse

REQUEST_ID = re.compile(r"Anfrage #(\d+)")
POLL_ID = re.compile(r"Umfrage #(\d+)")
UNCONFIRMED = "Noch nicht bestätigt"
REFUSED_CONFIRM = "bestätigt die Tagesordnung nicht"


async def plan_session(room: LiveRoom, cases: int) -> Planned:
    """The moderator creates a session; the Jugendamt's caseworker registers cases with
    consent for Jugendamt and Jobcenter; the Jobcenter asks for the conferences. Each
    request is placed on the session at once."""
    day = session_day(room.clock.now(), room.calendar)
    created = await room.says("moderation", f"!fk termin neu {day:%d.%m.%Y} 10:00")
    assert created.startswith("📅 Termin angelegt: "), created
    session = int(one(SESSION_ID, created))
    pseudonyms = []
    for _ in range(cases):
        case = one(PSEUDONYM, await room.says("fachkraft", "!fk fall neu"))
        recorded = await room.says("fachkraft", consent(case, "jugendamt,jobcenter"))
        assert "erfasst" in recorded, recorded
        requested = await room.says(
            "jobcenter",
            f"!fk anfrage {case} thema=Ausbildung dringlichkeit=regulär teilnehmer=jugendamt",
        )
        assert "✅ Einwilligung geprüft" in requested, requested
        assert f"eingeplant: Termin #{session} " in requested, requested
        pseudonyms.append(case)
    return Planned(session, ten_o_clock(day), pseudonyms)


ROLES = {"moderation": "jugendamt", "fachkraft": "jugendamt", "jobcenter": "jobcenter"}


async def test_agenda_is_posted_on_time_and_only_moderation_confirms_it_by_reaction(
    people: People, tmp_path: Path
) -> None:
    async with agenda_room(people, tmp_path / "bot", ROLES) as room:
        moderator, caseworker = room.who["moderation"], room.who["fachkraft"]
        planned = await plan_session(room, cases=2)

        # Not before its time: a minute before, the draft is there but nothing is posted.
        post_at = room.calendar.agenda_post_at(planned.starts)
        assert post_at is not None
        room.jump(post_at - timedelta(minutes=1))
        draft = await room.says("fachkraft", f"!fk agenda {planned.session}")
        assert draft.startswith(AGENDA_HEAD), draft
        assert UNCONFIRMED in draft, draft
        assert not [s for s in room.own_posts() if s.body.startswith(AGENDA_HEAD)]

        agenda = await post_agenda(room, planned)
        assert UNCONFIRMED in agenda.body, agenda.body
        assert "Jobcenter Wetterau" in agenda.body
        assert "Jugendamt Wetterau" in agenda.body
        assert agenda.raw["content"]["m.mentions"] == {"user_ids": [moderator.user_id]}
        assert agenda.body.index(planned.cases[0]) < agenda.body.index(planned.cases[1])

        # A caseworker's ✅ does not confirm; the bot says so once.
        first = await caseworker.react(room.room_id, agenda.event_id, "✅")
        [refused] = await room.wait_for(lambda s: REFUSED_CONFIRM in s.body)
        assert refused.in_reply_to == agenda.event_id
        assert refused.decrypted
        shown = await room.says("fachkraft", f"!fk agenda {planned.session}")
        assert UNCONFIRMED in shown, shown
        assert "Bestätigt von" not in shown, shown
        # Taking the ✅ back and giving it again (Synapse refuses the same reaction
        # twice): still not confirmed, and no second notice.
        await caseworker.redact(room.room_id, first)
        await caseworker.react(room.room_id, agenda.event_id, "✅")
        await room.settle()
        assert len([s for s in room.from_bot() if REFUSED_CONFIRM in s.body]) == 1
        assert room.watcher.edits_of(agenda.event_id) == []

        # The moderator's ✅ confirms: a reply, and the posted agenda is edited in place.
        await moderator.react(room.room_id, agenda.event_id, "✅")
        [confirmed] = await room.wait_for(
            lambda s: s.in_reply_to == agenda.event_id and "bestätigt, Fassung" in s.body
        )
        assert confirmed.body.startswith(f"✅ Tagesordnung von Termin #{planned.session} ")
        assert "2 Fälle" in confirmed.body
        await room.watcher.wait_until(lambda: room.watcher.edits_of(agenda.event_id), 30)
        [edit] = room.watcher.edits_of(agenda.event_id)
        assert edit.sender == room.bot_user
        assert edit.decrypted
        new_body = edit.new_body
        assert new_body is not None
        assert f"Bestätigt von {moderator.user_id}" in new_body, new_body
        assert UNCONFIRMED not in new_body
        assert all(case in new_body for case in planned.cases)
        assert edit.body.startswith("* "), "the fallback for clients without edits"
        shown = await room.says("jobcenter", f"!fk agenda {planned.session}")
        assert f"Bestätigt von {moderator.user_id}" in shown, shown
        # Confirming again changes nothing: no second edit.
        again = await room.says("moderation", f"!fk agenda bestätigen {planned.session}")
        assert "bereits bestätigt" in again, again
        await room.settle()
        assert len(room.watcher.edits_of(agenda.event_id)) == 1
        posted = [s for s in room.own_posts() if s.body.startswith(AGENDA_HEAD)]
        assert posted == [agenda], "the agenda is posted once"


async def test_a_revocation_takes_the_case_off_the_posted_agenda_and_unlocks_it(
    people: People, tmp_path: Path
) -> None:
    async with agenda_room(people, tmp_path / "bot", ROLES) as room:
        moderator = room.who["moderation"]
        planned = await plan_session(room, cases=2)
        agenda = await post_agenda(room, planned)
        kept, revoked = planned.cases
        confirmed = await room.says("moderation", f"!fk agenda bestätigen {planned.session}")
        assert "bestätigt, Fassung" in confirmed, confirmed
        await room.watcher.wait_until(lambda: room.watcher.edits_of(agenda.event_id), 30)
        [locked] = room.watcher.edits_of(agenda.event_id)
        assert f"Bestätigt von {moderator.user_id}" in (locked.new_body or "")

        answer = await room.says("fachkraft", f"!fk widerruf {revoked}")
        assert f"🛑 Widerruf für {revoked} erfasst" in answer, answer
        assert f"von Termin #{planned.session} " in answer, answer
        assert "genommen" in answer, answer

        await room.watcher.wait_until(lambda: len(room.watcher.edits_of(agenda.event_id)) == 2, 30)
        edit = room.watcher.edits_of(agenda.event_id)[-1]
        new_body = edit.new_body or ""
        assert revoked not in new_body, new_body
        assert revoked not in (edit.raw["content"]["m.new_content"].get("formatted_body") or "")
        assert kept in new_body, new_body
        assert UNCONFIRMED in new_body, new_body
        assert "Bestätigt von" not in new_body, new_body
        [unlock] = await room.wait_for(lambda s: "Tagesordnung geändert" in s.body)
        assert unlock.in_reply_to == agenda.event_id
        assert "Bestätigung ist aufgehoben" in unlock.body, unlock.body
        assert f"Termin #{planned.session}" in unlock.body
        assert moderator.user_id in unlock.raw["content"]["m.mentions"]["user_ids"]

        shown = await room.says("jobcenter", f"!fk agenda {planned.session}")
        assert revoked not in shown, shown
        assert kept in shown, shown
        assert UNCONFIRMED in shown, shown
        await room.settle()
        assert len(room.watcher.edits_of(agenda.event_id)) == 2
        assert len([s for s in room.from_bot() if "Tagesordnung geändert" in s.body]) == 1

        # The moderation confirms the new revision with ✅: a third edit, locked again.
        await moderator.react(room.room_id, agenda.event_id, "✅")
        [relocked] = await room.wait_for(
            lambda s: s.in_reply_to == agenda.event_id and "bestätigt, Fassung" in s.body
        )
        assert "1 Fall)" in relocked.body, relocked.body
        await room.watcher.wait_until(lambda: len(room.watcher.edits_of(agenda.event_id)) == 3, 30)
        final = room.watcher.edits_of(agenda.event_id)[-1].new_body or ""
        assert f"Bestätigt von {moderator.user_id}" in final, final
        assert revoked not in final, final
        assert kept in final, final


async def test_reminders_one_day_and_one_hour_ahead_reply_to_the_agenda_once(
    people: People, tmp_path: Path
) -> None:
    async with agenda_room(people, tmp_path / "bot", ROLES) as room:
        planned = await plan_session(room, cases=1)
        agenda = await post_agenda(room, planned)
        when = f"{planned.starts.astimezone(LOCAL_TZ):%d.%m.%Y} 10:00"

        def reminders(ahead: str) -> Callable[[Seen], bool]:
            return lambda s: "Erinnerung" in s.body and f"in {ahead}." in s.body

        room.jump(planned.starts - timedelta(days=1, minutes=1))  # a minute early: nothing
        await room.settle()
        assert room.own_posts() == [agenda]
        room.jump(planned.starts - timedelta(days=1))
        [day] = await room.wait_for(reminders("1 Tag"))
        assert day.in_reply_to == agenda.event_id
        assert day.decrypted
        assert when in day.body, day.body
        assert f"Termin #{planned.session}" in day.body, day.body
        assert "1 Fall auf der Tagesordnung" in day.body, day.body
        assert "Beteiligte Institutionen: Jobcenter Wetterau, Jugendamt Wetterau" in day.body
        assert "verspätet" not in day.body
        [nudge] = await room.wait_for(lambda s: "Tagesordnung nicht bestätigt" in s.body)
        assert nudge.in_reply_to == agenda.event_id

        room.jump(planned.starts - timedelta(days=1) + timedelta(minutes=30))  # nothing due
        room.jump(planned.starts - timedelta(hours=1))
        [hour] = await room.wait_for(reminders("1 Stunde"))
        assert hour.in_reply_to == agenda.event_id
        assert when in hour.body, hour.body
        assert "verspätet" not in hour.body, hour.body
        room.jump(planned.starts - timedelta(minutes=30))  # nothing due
        await room.settle()

        # Nothing else, nothing twice: the agenda, the two reminders and the one nudge
        # to the moderation, in this order (the nudge and the day's reminder fall due
        # together).
        posts = room.own_posts()
        assert len(posts) == 4, [s.body for s in posts]
        assert posts[0] == agenda
        assert posts[-1] == hour
        assert {s.event_id for s in posts[1:3]} == {day.event_id, nudge.event_id}
        assert not [s for s in room.from_bot() if "Erinnerung" in s.body and s not in posts]


async def test_an_availability_poll_finds_the_slot_most_institutions_can_make(
    people: People, tmp_path: Path
) -> None:
    institutions = {
        "moderation": "jugendamt",
        "jobcenter": "jobcenter",
        "agentur": "agentur",
        "traeger": "traeger-xyz",
    }
    async with agenda_room(people, tmp_path / "bot", institutions) as room:
        moderator, jobcenter, agentur, traeger = room.who.values()
        case = one(PSEUDONYM, await room.says("moderation", "!fk fall neu"))
        await room.says("moderation", consent(case, "jugendamt,jobcenter,agentur"))
        requested = await room.says(
            "moderation",
            f"!fk anfrage {case} thema=Kinderschutz dringlichkeit=dringend "
            "teilnehmer=jobcenter,agentur",
        )
        assert "✅ Einwilligung geprüft" in requested, requested
        request = one(REQUEST_ID, requested)

        started = await room.says("moderation", f"!fk umfrage {request}")
        assert f"für Anfrage #{request} gestartet" in started, started
        poll_nr = one(POLL_ID, started)

        def poll_events(person: Participant, kind: str) -> list[Seen]:
            return [e for e in person.events if e.event_type == kind]

        await jobcenter.wait_until(lambda: poll_events(jobcenter, "m.poll.start"), 30)
        [poll] = poll_events(jobcenter, "m.poll.start")
        assert poll.sender == room.bot_user
        assert poll.decrypted
        block = poll.content["m.poll"]
        answers = {a["m.id"]: a["m.text"][0]["body"] for a in block["answers"]}
        assert list(answers) == [str(n) for n in range(1, len(answers) + 1)]
        assert len(answers) >= 3, answers
        assert case in block["question"]["m.text"][0]["body"]
        unstable = poll.content["org.matrix.msc3381.poll.start"]
        assert [a["id"] for a in unstable["answers"]] == list(answers)
        assert f"!fk abstimmen {poll_nr} 1,3" in poll.body, "the text fallback says how"

        # Jobcenter votes with the stable event type, the Agentur with the unstable one
        # (as Element does), the Jugendamt by command; the Träger is not invited to this
        # conference: its votes do not count.
        reference = {"rel_type": "m.reference", "event_id": poll.event_id}
        await jobcenter.send_event(
            room.room_id, "m.poll.response", {"m.relates_to": reference, "m.selections": ["2"]}
        )
        await jobcenter.send_event(
            room.room_id,
            "m.poll.response",
            {"m.relates_to": reference, "m.selections": ["2", "3"]},
        )  # only the latest response counts
        await agentur.send_event(
            room.room_id,
            "org.matrix.msc3381.poll.response",
            {
                "m.relates_to": reference,
                "org.matrix.msc3381.poll.response": {"answers": ["3"]},
            },
        )
        await traeger.send_event(
            room.room_id, "m.poll.response", {"m.relates_to": reference, "m.selections": ["1"]}
        )
        voted = await room.says("moderation", f"!fk abstimmen {poll_nr} 1,3")
        assert voted.startswith(f"🗳️ Stimme für Umfrage #{poll_nr} gezählt (Jugendamt Wetterau)")
        refused = await room.says("traeger", f"!fk abstimmen {poll_nr} 1")
        assert "Deine Stimme zählt hier nicht" in refused, refused

        # The bot's clock stands still at the test's start; votes and the closing command
        # both carry the homeserver's time, so the bot's clock does not matter here.
        closed = await room.says("moderation", f"!fk umfrage schließen {poll_nr}")
        assert f"Umfrage #{poll_nr} geschlossen" in closed, closed
        assert f"1. {answers['1']}: 1/3 Institutionen" in closed, closed
        assert f"2. {answers['2']}: 1/3 Institutionen" in closed, closed
        assert f"3. {answers['3']}: 3/3 Institutionen" in closed, closed
        session = one(re.compile(r"📅 Termin #(\d+) am"), closed)
        assert f"📅 Termin #{session} am {answers['3']} festgelegt" in closed, closed
        assert f"Anfrage #{request} ({case}) ist eingeplant" in closed
        assert "kann nicht" not in closed

        await jobcenter.wait_until(lambda: poll_events(jobcenter, "m.poll.end"), 30)
        [end] = poll_events(jobcenter, "m.poll.end")
        assert end.sender == room.bot_user
        assert end.decrypted
        assert end.references == poll.event_id
        assert answers["3"] in end.body, end.body

        listed = await room.says("agentur", "!fk termine")
        assert f"#{session} {answers['3']} Fallkonferenz – 1/1 Fall" in listed, listed
        shown = await room.says("agentur", f"!fk agenda {session}")
        assert case in shown, shown
        assert f"Termin #{session}" in shown, shown
        late = await room.says("jobcenter", f"!fk abstimmen {poll_nr} 1")
        assert "schon geschlossen" in late, late
        # Every member saw the same poll, decrypted.
        for person in (moderator, agentur, traeger):
            assert [e.event_id for e in poll_events(person, "m.poll.start")] == [poll.event_id]


def calendar_files(room: LiveRoom) -> list[Seen]:
    return [s for s in room.from_bot() if s.msgtype == "m.file"]


async def fetch_ics(room: LiveRoom, session: int, count: int) -> tuple[Seen, bytes]:
    """``!fk kalender <nr>``: the reply, then the ``count``-th calendar file."""
    reply = await room.says("moderation", f"!fk kalender {session}")
    assert reply.startswith(f"📎 Kalenderdatei für Termin #{session} "), reply
    await room.watcher.wait_until(lambda: len(calendar_files(room)) >= count, 30)
    message = calendar_files(room)[count - 1]
    content = message.content
    assert message.decrypted, "the calendar file is sent into the encrypted room encrypted"
    assert message.body == f"termin-{session}.ics"
    assert "url" not in content, "an encrypted attachment has no plaintext url"
    assert UPLOAD_KEY not in content, "the bytes must not travel in the event"
    file = content["file"]
    assert file["url"].startswith("mxc://")
    assert file["key"]["alg"] == "A256CTR"
    assert file["key"]["k"]
    assert file["iv"]
    assert file["hashes"]["sha256"]
    assert file["v"] == "v2"
    assert content["info"]["mimetype"].startswith("text/calendar")
    data = await room.watcher.download_file(file)
    assert content["info"]["size"] == len(data)
    return message, data


def parsed(data: bytes) -> tuple[icalendar.Calendar, vobject.base.Component]:
    return icalendar.Calendar.from_ical(data), vobject.readOne(data.decode("utf-8"))


async def test_the_calendar_file_arrives_encrypted_and_follows_moves_and_cancellation(
    people: People, tmp_path: Path
) -> None:
    async with agenda_room(people, tmp_path / "bot", {"moderation": "jugendamt"}) as room:
        day = local_date(room.clock.now()) + timedelta(days=10)
        created = await room.says("moderation", f"!fk termin neu {day:%d.%m.%Y} 10:00")
        session = int(one(SESSION_ID, created))

        _, data = await fetch_ics(room, session, 1)
        cal, vcal = parsed(data)
        assert str(cal["METHOD"]) == "REQUEST"
        [event] = cal.walk("VEVENT")
        uid = str(event["UID"])
        assert uid.startswith(f"termin-{session}@")
        assert int(event["SEQUENCE"]) == 0
        assert event["DTSTART"].params["TZID"] == "Europe/Berlin"
        starts = event.decoded("DTSTART")
        assert starts.astimezone(LOCAL_TZ).replace(tzinfo=None) == datetime.combine(
            day, time(10, 0)
        )
        assert starts == ten_o_clock(day)
        assert vcal.method.value == "REQUEST"
        assert vcal.vevent.uid.value == uid
        assert int(vcal.vevent.sequence.value) == 0
        assert vcal.vevent.dtstart.value == ten_o_clock(day)
        assert vcal.vevent.dtstart.value.astimezone(LOCAL_TZ).hour == 10
        assert not PSEUDONYM.search(data.decode("utf-8"))

        moved_to = day + timedelta(days=7)
        moved = await room.says(
            "moderation", f"!fk termin verschieben {session} {moved_to:%d.%m.%Y} 10:00"
        )
        assert "verschoben" in moved, moved
        _, data = await fetch_ics(room, session, 2)
        cal, vcal = parsed(data)
        [event] = cal.walk("VEVENT")
        assert str(cal["METHOD"]) == "REQUEST"
        assert str(event["UID"]) == uid
        assert vcal.vevent.uid.value == uid
        assert int(event["SEQUENCE"]) > 0
        assert int(vcal.vevent.sequence.value) > 0
        first_move = int(event["SEQUENCE"])
        assert event.decoded("DTSTART") == ten_o_clock(moved_to)
        assert vcal.vevent.dtstart.value == ten_o_clock(moved_to)

        cancelled = await room.says("moderation", f"!fk termin absagen {session}")
        assert "abgesagt" in cancelled, cancelled
        _, data = await fetch_ics(room, session, 3)
        cal, vcal = parsed(data)
        [event] = cal.walk("VEVENT")
        assert str(cal["METHOD"]) == "CANCEL"
        assert vcal.method.value == "CANCEL"
        assert str(event["STATUS"]) == "CANCELLED"
        assert str(event["UID"]) == uid
        assert int(event["SEQUENCE"]) > first_move
        assert int(vcal.vevent.sequence.value) == int(event["SEQUENCE"])
        assert len(calendar_files(room)) == 3


async def test_a_reminder_the_timer_fires_by_itself_is_run_on_the_event_loop(
    people: People, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    threads: list[threading.Thread] = []
    run_chunk = ReminderRunner.run_chunk  # what the timer calls, chunk by chunk

    def recording(self: ReminderRunner) -> int:
        threads.append(threading.current_thread())
        return run_chunk(self)

    monkeypatch.setattr(ReminderRunner, "run_chunk", recording)
    async with agenda_room(people, tmp_path / "bot", {"moderation": "jugendamt"}) as room:
        loop_thread = threading.current_thread()  # the bot runs in the test's event loop
        # The bot's clock is two hours behind: the session's one-hour reminder lies ahead
        # for it when the session is made, and is already due in real time.
        room.clock.set(datetime.now(UTC) - timedelta(hours=2))
        starts = (datetime.now(UTC) + timedelta(minutes=31)).astimezone(LOCAL_TZ)
        created = await room.says("moderation", f"!fk termin neu {starts:%d.%m.%Y %H:%M}")
        assert created.startswith("📅 Termin angelegt: "), created
        await room.settle()
        assert not [s for s in room.own_posts() if "Erinnerung" in s.body]

        # Now the clock is right; the timer looks at the next due time (as it does after
        # every command) and fires by itself a second later: APScheduler's job, not ours.
        room.clock.set(datetime.now(UTC))
        timer = room.bot.app.timer
        assert timer is not None
        before = len(threads)
        timer.rearm()
        [reminder] = await room.wait_for(lambda s: "Erinnerung" in s.body)
        # late: it says the time really left, not the nominal hour
        assert re.search(r"– in \d+ Minuten\.", reminder.body), reminder.body
        assert "in 1 Stunde" not in reminder.body, reminder.body
        assert "verspätet" in reminder.body, reminder.body
        assert len(threads) > before
        assert all(thread is loop_thread for thread in threads), [t.name for t in threads]
