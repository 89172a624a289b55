"""Holding a conference as the people in the room see it: attendance, outcomes, minutes.

PRODUCT.md steps 9–10 end to end: a real bot with a controllable clock on the test
Synapse, real matrix-nio clients of the Jugendamt and the Jobcenter in an encrypted
room (the room's creator has power level 100: moderation). The bot's clock jumps to
the session's day and later to the days the timed work is due (a week and a day
before the Wiedervorlage, the day after it, five working days after the session);
its timer is fired at once, as APScheduler would do at that moment. Every assertion is
on what arrives in the room: decrypted replies and notices, mentions, edits
(``m.replace``) and the encrypted minutes files, downloaded and read back.
"""

from __future__ import annotations

import io
import json
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import Any

import pytest
from pypdf import PdfReader

from bot.testing.inroom import (
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
from domain.dates import LOCAL_TZ

pytestmark = pytest.mark.synapse

# The creator (moderation) and a caseworker of the Jugendamt, a caseworker of the
# Jobcenter; everyone is ``fachkraft`` in the configuration.
ROLES = {"moderation": "jugendamt", "fachkraft": "jugendamt", "jobcenter": "jobcenter"}
DECISION = "Teilnahme am Jugendberufshilfe-Projekt ab Januar; Förderplan mit der Schule abstimmen"
TASK = "Hilfeplangespräch mit der Familie vorbereiten"
MINUTES_HEAD = "📝 Protokoll "
UNCONFIRMED_MINUTES = "⏳ Noch nicht bestätigt."


@dataclass(frozen=True)
class Plan:
    """A session on a working day within the week, its cases in order, and (optionally)
    a later session the unhandled ones are carried over to."""

    session: int
    day: date
    starts: datetime
    cases: list[str]
    later: int | None
    later_day: date | None


def eight_o_clock(day: date) -> datetime:
    return datetime.combine(day, time(8, 0), tzinfo=LOCAL_TZ).astimezone(UTC)


def berlin(day: date) -> str:
    return f"{day:%d.%m.%Y}"


def weekday(day: date) -> str:
    return ("Mo", "Di", "Mi", "Do", "Fr", "Sa", "So")[day.weekday()]


def working_days_after(room: LiveRoom, day: date, count: int) -> date:
    """Counted here, not by the product: Monday to Friday without the bot's holidays."""
    current = day
    while count:
        current += timedelta(days=1)
        if current.weekday() < 5 and not room.calendar.is_holiday(current):
            count -= 1
    return current


async def plan(room: LiveRoom, *, cases: int, later: bool = False) -> Plan:
    """The moderator creates the session (and a later one); the Jugendamt's caseworker
    registers the cases with consent for Jugendamt and Jobcenter. The first case is
    requested by the Jobcenter, the second by the Jugendamt; each is placed at once on
    the first session (the earliest)."""
    day = session_day(room.clock.now(), room.calendar)
    created = await room.says("moderation", f"!fk termin neu {berlin(day)} 10:00")
    assert created.startswith("📅 Termin angelegt: "), created
    session = int(one(SESSION_ID, created))
    later_id: int | None = None
    later_day: date | None = None
    if later:
        # Not a week later to the hour: its one-week reminder would fall due just as the
        # first session is opened.
        later_day = day + timedelta(days=8)
        while not room.calendar.is_working_day(later_day):
            later_day += timedelta(days=1)
        made = await room.says("moderation", f"!fk termin neu {berlin(later_day)} 10:00")
        assert made.startswith("📅 Termin angelegt: "), made
        later_id = int(one(SESSION_ID, made))
        assert later_id != session
    requesters = [("jobcenter", "jugendamt", "Ausbildung"), ("fachkraft", "jobcenter", "Wohnen")]
    pseudonyms = []
    for who, other, topic in requesters[:cases]:
        case = one(PSEUDONYM, await room.says("fachkraft", "!fk fall neu"))
        recorded = await room.says("fachkraft", consent(case, "jugendamt,jobcenter"))
        assert "erfasst" in recorded, recorded
        requested = await room.says(
            who, f"!fk anfrage {case} thema={topic} dringlichkeit=regulär teilnehmer={other}"
        )
        assert "✅ Einwilligung geprüft" in requested, requested
        assert f"eingeplant: Termin #{session} " in requested, requested
        pseudonyms.append(case)
    return Plan(session, day, ten_o_clock(day), pseudonyms, later_id, later_day)


async def open_sitting(room: LiveRoom, planned: Plan) -> Seen:
    """A minute after ten on the session's day the moderator opens the session."""
    room.jump(planned.starts + timedelta(minutes=1))
    opening = await room.ask("moderation", "!fk sitzung start")
    assert opening.body.startswith("🟢 Sitzung eröffnet: "), opening.body
    assert f"Termin #{planned.session}, " in opening.body, opening.body
    count = len(planned.cases)
    cases = f"{count} Fall" if count == 1 else f"{count} Fälle"
    assert f"Tagesordnung ({cases})" in opening.body, opening.body
    for case in planned.cases:
        assert case in opening.body, opening.body
    assert "Beschlussfähig ab 2 Institutionen" in opening.body, opening.body
    return opening


async def close_sitting(room: LiveRoom) -> Seen:
    minutes = await room.ask("moderation", "!fk sitzung ende")
    assert MINUTES_HEAD in minutes.body, minutes.body
    return minutes


def posts_since(room: LiveRoom, before: list[Seen]) -> list[Seen]:
    known = {s.event_id for s in before}
    return [s for s in room.own_posts() if s.event_id not in known]


def mentioned(seen: Seen) -> list[str]:
    mentions = seen.content.get("m.mentions") or {}
    users = mentions.get("user_ids") or []
    assert isinstance(users, list)
    return users


async def seen_by(person: Participant, event_id: str) -> Seen:
    """The event as ``person``'s own client received (and decrypted) it."""
    await person.wait_until(lambda: any(s.event_id == event_id for s in person.seen), 30)
    return next(s for s in person.seen if s.event_id == event_id)


# -- 1. a whole conference --------------------------------------------------------------


async def test_a_whole_conference_from_opening_to_confirmed_minutes(
    people: People, tmp_path: Path
) -> None:
    async with agenda_room(people, tmp_path / "bot", ROLES) as room:
        moderator, caseworker, jobcenter = (room.who[k] for k in ROLES)
        planned = await plan(room, cases=2, later=True)
        first, second = planned.cases
        assert planned.later is not None
        assert planned.later_day is not None
        agenda = await post_agenda(room, Planned(planned.session, planned.starts, planned.cases))

        opening = await open_sitting(room, planned)
        assert opening.decrypted
        assert posts_since(room, [agenda]) == [], [s.body for s in posts_since(room, [agenda])]

        # Attendance: whoever opens is there (the Jugendamt's moderator); the Jobcenter's
        # caseworker raises a hand on the opening message ...
        await jobcenter.react(room.room_id, opening.event_id, "✋")
        [hand] = await room.wait_for(lambda s: s.in_reply_to == opening.event_id)
        assert hand.body == (
            f"✋ {jobcenter.user_id} (Jobcenter Wetterau) ist anwesend. Vertreten: 2 "
            "Institutionen – beschlussfähig."
        ), hand.body
        assert jobcenter.user_id in mentioned(hand)
        # ... the Jugendamt's caseworker says so, the moderator excuses the Agentur.
        present = await room.says("fachkraft", "!fk anwesend")
        assert present == (
            f"✋ {caseworker.user_id} (Jugendamt Wetterau) ist anwesend. Vertreten: 2 "
            "Institutionen – beschlussfähig."
        ), present
        excused = await room.says("moderation", "!fk entschuldigt agentur")
        assert excused == f"📝 Agentur für Arbeit ist für Termin #{planned.session} entschuldigt."

        # The first case: decision, Lotse, task, Wiedervorlage.
        decided = await room.says("fachkraft", f"!fk beschluss {first} {DECISION}")
        assert decided.startswith(f"📌 Beschluss 1 zu {first}: {DECISION}\n\nℹ️"), decided
        assert "nicht beschlussfähig" not in decided  # two institutions are present
        named = await room.ask("moderation", f"!fk lotse {first} {jobcenter.user_id}")
        assert named.body.startswith(
            f"🧭 Lotse für {first}: {jobcenter.user_id} (Jobcenter Wetterau)."
        ), named.body
        as_lotse = await seen_by(jobcenter, named.event_id)
        assert as_lotse.decrypted
        assert jobcenter.user_id in mentioned(as_lotse), as_lotse.content
        task_due = planned.day + timedelta(days=14)
        tasked = await room.says(
            "moderation", f"!fk aufgabe {first} {caseworker.user_id} {TASK} bis {berlin(task_due)}"
        )
        assert tasked == (
            f"☑️ Aufgabe für {caseworker.user_id} (Jugendamt Wetterau) zu {first}: {TASK} – "
            f"bis {berlin(task_due)}"
        ), tasked
        review = planned.day + timedelta(days=21)
        reviewed = await room.ask("moderation", f"!fk wiedervorlage {first} {berlin(review)}")
        assert reviewed.body == (
            f"📅 Wiedervorlage für {first} am {berlin(review)}; ich erinnere den Lotsen "
            f"{jobcenter.user_id} vorher."
        ), reviewed.body
        assert jobcenter.user_id in mentioned(reviewed)

        # The second case gets nothing: the end carries it over to the later session.
        ended = await close_sitting(room)
        minutes = ended.body
        assert ended.decrypted
        assert minutes.startswith(
            f"⏭️ Nicht behandelt und vertagt: {second} → Termin #{planned.later}."
        ), minutes
        assert f"Termin #{planned.session}, " in minutes, minutes
        assert "• Agentur für Arbeit: entschuldigt" in minutes, minutes
        assert f"• Jobcenter Wetterau: anwesend ({jobcenter.user_id})" in minutes, minutes
        assert (
            f"• Jugendamt Wetterau: anwesend ({moderator.user_id}, {caseworker.user_id})" in minutes
        ), minutes
        assert "Beschlussfähig: ja (2 von mindestens 2 Institutionen)." in minutes, minutes
        assert f"{first} – Ausbildung, angefragt von Jobcenter Wetterau" in minutes, minutes
        assert f"{second} – Wohnen, angefragt von Jugendamt Wetterau" in minutes, minutes
        assert f"• Beschluss: {DECISION}" in minutes, minutes
        assert f"• Lotse: {jobcenter.user_id} (Jobcenter Wetterau)" in minutes, minutes
        assert (
            f"• Aufgabe: {caseworker.user_id} (Jugendamt Wetterau): {TASK}, bis {berlin(task_due)}"
            in minutes
        ), minutes
        assert f"• Wiedervorlage: {berlin(review)}" in minutes, minutes
        assert (
            f"• Vertagt (nicht behandelt) → Termin #{planned.later} am "
            f"{weekday(planned.later_day)} {berlin(planned.later_day)} 10:00" in minutes
        ), minutes
        # Everything of the first case stands under it, the carry-over under the second.
        head_first, head_second = minutes.index(f"{first} – "), minutes.index(f"{second} – ")
        assert head_first < minutes.index("• Beschluss:") < head_second
        assert head_second < minutes.index("• Vertagt")
        assert UNCONFIRMED_MINUTES in minutes, minutes
        shown = await room.says("jobcenter", f"!fk agenda {planned.later}")
        assert second in shown, shown
        assert first not in shown, shown

        # The moderator's ✅ on the minutes: a confirmation and one edit of the minutes.
        before = room.own_posts()
        await moderator.react(room.room_id, ended.event_id, "✅")
        [confirmed] = await room.wait_for(lambda s: s.in_reply_to == ended.event_id)
        assert confirmed.body == f"✅ Protokoll von Termin #{planned.session} bestätigt."
        assert confirmed.decrypted
        await room.watcher.wait_until(lambda: room.watcher.edits_of(ended.event_id), 30)
        [edit] = room.watcher.edits_of(ended.event_id)
        assert edit.sender == room.bot_user
        assert edit.decrypted
        assert edit.body.startswith("* ")
        new_body = edit.new_body or ""
        assert f"✅ Bestätigt von {moderator.user_id} am " in new_body, new_body
        assert UNCONFIRMED_MINUTES not in new_body, new_body
        assert f"• Beschluss: {DECISION}" in new_body, new_body
        again = await room.says("moderation", "!fk protokoll bestätigen")
        assert "bereits bestätigt" in again, again
        await room.settle()
        assert len(room.watcher.edits_of(ended.event_id)) == 1
        assert {s.event_id for s in posts_since(room, before)} == {
            confirmed.event_id,
            edit.event_id,
        }
        shown = await room.says("jobcenter", "!fk protokoll")
        assert f"✅ Bestätigt von {moderator.user_id} am " in shown, shown


# -- 2. the Wiedervorlage: the Lotse is reminded, moderation hears when it is overdue ----


async def hold_with_review(room: LiveRoom) -> tuple[Plan, date]:
    """One case; the Jobcenter's caseworker is its Lotse, the Wiedervorlage three weeks
    after the session; the minutes are confirmed (so no minutes reminder comes)."""
    planned = await plan(room, cases=1)
    [case] = planned.cases
    await open_sitting(room, planned)
    await room.says("jobcenter", "!fk anwesend")
    await room.says("moderation", f"!fk lotse {case} {room.who['jobcenter'].user_id}")
    review = planned.day + timedelta(days=21)
    set_ = await room.says("fachkraft", f"!fk wiedervorlage {case} {berlin(review)}")
    assert set_.startswith(f"📅 Wiedervorlage für {case} am {berlin(review)}"), set_
    ended = await close_sitting(room)
    confirmed = await room.says("moderation", "!fk protokoll bestätigen")
    assert confirmed.startswith("✅ Protokoll"), confirmed
    await room.watcher.wait_until(lambda: room.watcher.edits_of(ended.event_id), 30)
    return planned, review


def review_notices(s: Seen) -> bool:
    return s.body.startswith(("⏰ Wiedervorlage", "⚠️ Wiedervorlage"))


@pytest.mark.parametrize("answered", [False, True], ids=["nothing-back", "lotse-answers"])
async def test_the_lotse_is_reminded_and_moderation_hears_of_an_overdue_review(
    people: People, tmp_path: Path, answered: bool
) -> None:
    async with agenda_room(people, tmp_path / "bot", ROLES) as room:
        moderator, lotse = room.who["moderation"], room.who["jobcenter"]
        planned, review = await hold_with_review(room)
        [case] = planned.cases
        await room.settle()
        after_session = room.own_posts()

        week_before = eight_o_clock(review - timedelta(days=7))
        room.jump(week_before - timedelta(minutes=1))  # a minute early: nothing
        await room.settle()
        assert posts_since(room, after_session) == []
        room.jump(week_before)
        [week] = await room.wait_for(review_notices)
        assert week.msgtype == "m.notice"
        assert week.decrypted
        assert week.in_reply_to is None
        assert week.body.startswith(
            f"⏰ Wiedervorlage: {case} am {berlin(review)} (in 7 Tagen)."
        ), week.body
        assert f"{lotse.user_id}, bitte zurückmelden: `!fk wiedervorlage erledigt {case}`" in (
            week.body
        )
        assert mentioned(week) == [lotse.user_id]
        assert lotse.user_id in mentioned(await seen_by(lotse, week.event_id))
        assert "verspätet" not in week.body

        if answered:
            done = await room.says("jobcenter", f"!fk wiedervorlage erledigt {case}")
            assert done == f"✅ Wiedervorlage {case} ({berlin(review)}) erledigt.", done

        room.jump(eight_o_clock(review - timedelta(days=1)))
        if not answered:
            [_, day] = await room.wait_for(review_notices, 2)
            assert day.body.startswith(f"⏰ Wiedervorlage: {case} am {berlin(review)} (morgen).")
            assert mentioned(day) == [lotse.user_id]

        overdue_at = eight_o_clock(review + timedelta(days=1))
        room.jump(overdue_at - timedelta(minutes=1))
        await room.settle()
        assert not [s for s in room.own_posts() if "überfällig" in s.body]
        room.jump(overdue_at)
        if answered:
            await room.settle()
            # Exactly the one reminder a week before; nothing since the Lotse answered.
            assert posts_since(room, after_session) == [week]
            overview = await room.says("moderation", "!fk übersicht")
            assert "Überfällig: 0 Wiedervorlagen" in overview, overview
            return

        [overdue] = await room.wait_for(lambda s: "Wiedervorlage überfällig" in s.body)
        assert overdue.msgtype == "m.notice"
        assert overdue.decrypted
        assert overdue.body.startswith(
            f"⚠️ Wiedervorlage überfällig: {case} – fällig am {berlin(review)}, es wurde "
            "nichts zurückgemeldet."
        ), overdue.body
        assert f"Lotse: {lotse.user_id}" in overdue.body, overdue.body
        assert f"An die Moderation: {moderator.user_id}" in overdue.body, overdue.body
        assert moderator.user_id in mentioned(overdue)
        assert lotse.user_id in mentioned(overdue)
        assert "verspätet" not in overdue.body
        await room.settle()
        posts = posts_since(room, after_session)
        assert len(posts) == 3, [s.body for s in posts]
        assert posts[0] == week
        assert posts[2] == overdue
        assert not [s for s in room.own_posts() if "Protokoll nicht bestätigt" in s.body]
        overview = await room.says("moderation", "!fk übersicht")
        assert f"Wiedervorlage {case} seit {berlin(review)}" in overview, overview


# -- 3. the minutes as files ------------------------------------------------------------


def minutes_files(room: LiveRoom) -> list[Seen]:
    return [s for s in room.from_bot() if s.msgtype == "m.file"]


async def download(room: LiveRoom, message: Seen) -> bytes:
    content = message.content
    assert message.decrypted, "the minutes name cases: the files must be encrypted"
    assert "url" not in content, "an encrypted attachment has no plaintext url"
    assert UPLOAD_KEY not in content, "the bytes must not travel in the event"
    file = content["file"]
    assert file["url"].startswith("mxc://")
    assert file["key"]["alg"] == "A256CTR"
    assert file["v"] == "v2"
    data = await room.watcher.download_file(file)
    assert content["info"]["size"] == len(data)
    return data


def squeezed(text: str) -> str:
    """Without any white space: a PDF may break a line anywhere between words."""
    return "".join(text.split())


async def test_the_minutes_arrive_as_three_encrypted_files_that_say_the_same(
    people: People, tmp_path: Path
) -> None:
    async with agenda_room(people, tmp_path / "bot", ROLES) as room:
        moderator, caseworker, jobcenter = (room.who[k] for k in ROLES)
        planned = await plan(room, cases=2)
        first, second = planned.cases
        await open_sitting(room, planned)
        await room.says("fachkraft", "!fk anwesend")
        await room.says("jobcenter", "!fk anwesend")
        await room.says("moderation", f"!fk beschluss {first} {DECISION}")
        ended = await close_sitting(room)
        assert f"{second} → noch kein Termin" in ended.body, ended.body
        assert not minutes_files(room)

        reply = await room.says("jobcenter", "!fk protokoll export")
        assert reply == (
            f"📎 Protokoll von Termin #{planned.session} als Markdown, PDF und JSON – "
            "verschlüsselte Anhänge folgen."
        ), reply
        await room.watcher.wait_until(lambda: len(minutes_files(room)) >= 3, 30)
        stem = f"protokoll-termin-{planned.session}-{planned.day:%Y-%m-%d}"
        files = {s.body: s for s in minutes_files(room)}
        assert set(files) == {f"{stem}.md", f"{stem}.pdf", f"{stem}.json"}, list(files)
        mimetypes = {name: s.content["info"]["mimetype"] for name, s in files.items()}
        assert mimetypes[f"{stem}.json"] == "application/json"
        assert mimetypes[f"{stem}.pdf"] == "application/pdf"
        assert mimetypes[f"{stem}.md"].startswith("text/markdown")

        # JSON: the exact values.
        value: dict[str, Any] = json.loads(
            (await download(room, files[f"{stem}.json"])).decode("utf-8")
        )
        assert value["format"] == "fallkonferenz-protokoll"
        assert value["version"] == 1
        assert value["termin"]["id"] == planned.session
        assert value["termin"]["eröffnet_von"] == moderator.user_id
        assert value["beschlussfähig"] is True
        assert {p["institution"]: p["anwesend"] for p in value["anwesenheit"]} == {
            "Jobcenter Wetterau": [jobcenter.user_id],
            "Jugendamt Wetterau": [moderator.user_id, caseworker.user_id],
        }
        items = value["punkte"]
        assert [p["pseudonym"] for p in items] == [first, second]
        assert [p["nr"] for p in items] == [1, 2]
        assert items[0]["beschlüsse"] == [DECISION]
        assert items[0]["angefragt_von"] == "Jobcenter Wetterau"
        assert items[0]["vertagt"] is None
        assert items[1]["beschlüsse"] == []
        assert items[1]["angefragt_von"] == "Jugendamt Wetterau"
        assert items[1]["vertagt"] == {"grund": "nicht behandelt", "auf": None}
        assert value["bestätigt"] is None
        found = set(PSEUDONYM.findall(json.dumps(value, ensure_ascii=False)))
        assert found == {first, second}, "no other case leaks into the minutes"

        # PDF: read back with pypdf.
        pdf = await download(room, files[f"{stem}.pdf"])
        assert pdf.startswith(b"%PDF-")
        reader = PdfReader(io.BytesIO(pdf))
        text = "\n".join(page.extract_text() or "" for page in reader.pages)
        assert squeezed(DECISION) in squeezed(text), text
        assert first in text, text
        assert second in text, text
        assert f"Termin #{planned.session}" in text, text
        assert "Noch nicht bestätigt" in text, text

        # Markdown: the decision as a numbered line under its case.
        markdown = (await download(room, files[f"{stem}.md"])).decode("utf-8")
        assert markdown.startswith(f"# Protokoll Fallkonferenz – Termin #{planned.session}")
        assert f"\n1. {DECISION}\n" in markdown, markdown
        assert markdown.index(f"### TOP 1: {first}") < markdown.index(DECISION)
        assert markdown.index(DECISION) < markdown.index(f"### TOP 2: {second}")
        assert "Vertagt: nicht behandelt → noch kein Termin" in markdown, markdown

        # Three files, no more.
        await room.settle()
        assert len(minutes_files(room)) == 3


# -- 4. unconfirmed minutes -------------------------------------------------------------


async def test_unconfirmed_minutes_are_brought_to_moderation_after_five_working_days(
    people: People, tmp_path: Path
) -> None:
    async with agenda_room(people, tmp_path / "bot", ROLES) as room:
        moderator = room.who["moderation"]
        planned = await plan(room, cases=1)
        [case] = planned.cases
        await open_sitting(room, planned)
        await room.says("moderation", f"!fk beschluss {case} {DECISION}")
        ended = await close_sitting(room)
        assert UNCONFIRMED_MINUTES in ended.body
        await room.settle()
        after_session = room.own_posts()

        due = eight_o_clock(working_days_after(room, planned.day, 5))
        room.jump(due - timedelta(minutes=1))
        await room.settle()
        assert posts_since(room, after_session) == []

        def reminder(s: Seen) -> bool:
            return "Protokoll nicht bestätigt" in s.body

        room.jump(due)
        [nudge] = await room.wait_for(reminder)
        assert nudge.in_reply_to == ended.event_id, "the reminder answers the minutes"
        assert nudge.decrypted
        assert nudge.msgtype == "m.notice"
        assert nudge.body.startswith(
            f"📝 Protokoll nicht bestätigt: Fallkonferenz (Termin #{planned.session}) vom "
        ), nudge.body
        assert f"`!fk protokoll bestätigen {planned.session}`" in nudge.body, nudge.body
        assert f"An die Moderation: {moderator.user_id}" in nudge.body, nudge.body
        assert mentioned(nudge) == [moderator.user_id]
        assert "verspätet" not in nudge.body

        # Once only; and the ✅ that follows confirms without a second reminder.
        room.jump(due + timedelta(days=1))
        await moderator.react(room.room_id, ended.event_id, "✅")
        await room.wait_for(lambda s: s.in_reply_to == ended.event_id and "bestätigt." in s.body)
        await room.watcher.wait_until(lambda: room.watcher.edits_of(ended.event_id), 30)
        room.jump(due + timedelta(days=8))
        await room.settle()
        assert len([s for s in room.own_posts() if reminder(s)]) == 1
