"""Meetings, agendas, sessions, polls and the timed messages in an English room (issue 15).

One realistic run through the planning of a case conference — meetings and a series,
scheduling, the agenda and its confirmation, the reminders and the posted agenda from
the timed runner, an availability poll, the session with attendance and its end, the
overview — with the error replies of these commands on the way. Every message must be
in the room's language: in an English room no German term, in a German room no English
one (``bot/testing/language.py``). The cases themselves are entered while the room
still speaks German (case commands are another part of issue 15).
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any

import pytest

from bot.clock import FakeClock
from bot.testing.harness import AA, JA1, JC, MOD, NEW_SESSION, ORG, Room, utc
from bot.testing.language import foreign_words, without_code
from bot.txn import txn_id_for
from domain.polls import POLL_END, POLL_START
from storage.uow import Database

MATRIX_ID = re.compile(r"@[\w.=-]+:[\w.-]+")
POLL = re.compile(r"🗳️ (?:Poll|Umfrage) #(\d+) ")
MINUTES = "\n\n📝 "  # where the minutes begin in the reply to `session end`

# What the scenario types, in the room's language where the words are the user's own.
WORDS = {
    "en": {
        "series": '"Interface meeting"',
        "rule": "every 2nd Wednesday of the month",
        "bad rule": "every blue moon",
        "none": "none",
    },
    "de": {
        "series": "Schnittstellengespräch",
        "rule": "jeden 2. Mittwoch im Monat",
        "bad rule": "jeden blauen Mond",
        "none": "keine",
    },
}


@pytest.fixture
def clock() -> FakeClock:
    # Monday 23.11.2026, 10:00 in Berlin.
    return FakeClock(datetime(2026, 11, 23, 9, 0, tzinfo=UTC))


@pytest.fixture
def room(sqlite_database: Database, clock: FakeClock) -> Room:
    return Room(sqlite_database, clock)


def _data_free(text: str) -> str:
    """``text`` without what is data rather than a text of the bot: code spans (commands
    and values, checked by the framework's tests), institution names ("Agentur für Arbeit
    Gießen" is a name in every language) and Matrix ids (``@mona.moderation:fk.test``)."""
    text = without_code(text)
    for institution in ORG.institutions.values():
        text = text.replace(institution.name, " ")
    return MATRIX_ID.sub(" ", text)


class Transcript:
    """Every message of the bot's parts under test, checked for the room's language."""

    def __init__(self, room: Room, language: str) -> None:
        self.room, self.language = room, language
        self.messages: list[tuple[str, str]] = []

    def keep(self, what: str, text: str) -> str:
        self.messages.append((what, text))
        return text

    def say(self, sender: Any, command: str) -> str:
        return self.keep(command, self.room.say(sender, command))

    def mod(self, command: str) -> str:
        return self.say(MOD, command)

    def refused(self, sender: Any, command: str) -> str:
        reply = self.say(sender, command)
        assert reply.startswith("⚠️ "), (command, reply)
        return reply

    def run(self) -> list[dict[str, Any]]:
        contents = self.room.run()
        for content in contents:
            body = content.get("m.new_content", content)["body"]
            self.keep("runner", body)
        return contents

    def posts(self, event_type: str) -> list[Any]:
        rows = [r for r in self.room.outbox() if r.event_type == event_type]
        for row in rows:
            self.keep(event_type, row.content["body"])
        return rows

    def check(self, allowed: frozenset[str] = frozenset()) -> None:
        wrong = {
            (what, text): found
            for what, text in self.messages
            if (found := foreign_words(_data_free(text), self.language, allowed=allowed))
        }
        assert wrong == {}, "\n\n".join(f"{w!r}: {t}" for (w, t) in wrong)


def _cases(room: Room) -> tuple[str, str, str, int]:
    """Two regular cases and an urgent one needed by Wednesday, entered in German."""
    first, _, _ = room.ready_case(participants="jugendamt,jobcenter")
    second, _, _ = room.ready_case(participants="jugendamt,jobcenter")
    urgent, urgent_request, _ = room.ready_case(
        participants="jugendamt,jobcenter", urgency="dringend", extra="bis=25.11.2026"
    )
    return first, second, urgent, urgent_request


def _scenario(room: Room, language: str) -> Transcript:
    words = WORDS[language]
    first, second, _urgent, urgent_request = _cases(room)
    if language == "en":
        assert room.mod("sprache en") == "🌐 This room now speaks English."
    said = Transcript(room, language)

    # -- meetings, a series, scheduling ---------------------------------------------------
    said.say(JC, "meetings")
    created = said.mod("meeting new 26.11.2026 10:00")
    meeting = int(NEW_SESSION.search(created).group(1))  # type: ignore[union-attr]
    assert f"#{meeting} " in created, created
    weekend = said.mod("meeting new 28.11.2026 10:00 duration=60 places=2")
    saturday = int(NEW_SESSION.search(weekend).group(1))  # type: ignore[union-attr]
    said.mod(
        f'series new {words["series"]} rule="{words["rule"]}" time=10:00-12:00 places=6 minutes=20'
    )
    said.say(JC, "meetings")
    said.mod("schedule")
    said.refused(MOD, "meeting new 23.11.2026 08:00")
    said.refused(MOD, "meeting new 27.11.2026 10:00 colour=red")
    said.refused(MOD, "meeting new 27.11.2026 10:00 places=99")
    said.refused(MOD, "meeting new 27.11.2026 10:00 duration=0")
    said.refused(MOD, f'series new Test rule="{words["bad rule"]}" time=10:00-12:00')
    said.refused(MOD, 'series new Test rule="FREQ=HOURLY" time=10:00-12:00')
    said.refused(MOD, 'series new Test rule="FREQ=WEEKLY;COUNT=2;UNTIL=20270101" time=10:00-12:00')
    said.refused(MOD, f'series new Test rule="{words["rule"]}" time=12:00-10:00')
    said.refused(MOD, f'series new Test rule="{words["rule"]}" time=10:00-12:00 places=0')
    said.refused(MOD, "meeting cancel 999")
    said.refused(MOD, "meeting move 999 27.11.2026 10:00")
    said.refused(MOD, f"meeting move {saturday} 23.11.2026 08:00")

    # -- the agenda, from the runner and by command ---------------------------------------
    said.say(JA1, "agenda")
    said.run()  # the agenda of Thursday's meeting is due: posted to the room
    room.ack(txn_id_for(f"agenda:{meeting}", "agenda"), "$agenda")
    [refused] = room.react(JC, "$agenda")  # only moderators confirm with ✅
    said.keep("✅ by a caseworker", refused)
    said.refused(MOD, "agenda send")  # already in the room
    said.refused(MOD, f"agenda send {saturday}")  # nothing on it
    said.refused(MOD, "agenda confirm 999")
    said.say(JC, "calendar")
    said.say(JC, f"calendar {saturday}")
    said.say(JA1, "agenda")

    # -- an availability poll for the urgent case -----------------------------------------
    said.refused(MOD, "poll 999")
    started = said.mod(f"poll {urgent_request}")
    poll = int(POLL.search(started).group(1))  # type: ignore[union-attr]
    said.refused(MOD, f"poll {urgent_request}")
    said.say(JC, f"vote {poll} 1,2")
    said.say(JA1, f"vote {poll} {words['none']}")
    said.refused(JA1, f"vote {poll} 1 {words['none']}")
    said.refused(JA1, f"vote {poll} 99")
    said.refused(JA1, f"vote {poll} x")
    said.refused(AA, f"vote {poll} 1")  # the Agentur does not take part
    said.refused(JA1, f"vote {poll + 1} 1")
    said.refused(MOD, f"poll close {poll}")  # the poll is not in the room yet
    [start] = said.posts(POLL_START)
    room.ack(start, "$poll")
    said.mod(f"poll close {poll}")
    said.posts(POLL_END)

    # -- reminders and confirmation --------------------------------------------------------
    room.clock.set(utc("25.11.2026", "09:00"))  # a day before Thursday's meeting
    said.run()
    said.mod(f"meeting move {saturday} 27.11.2026 14:00")
    said.mod(f"meeting cancel {saturday}")
    said.mod("agenda confirm")
    said.mod("agenda confirm")
    said.refused(MOD, f"agenda confirm {saturday}")  # cancelled
    said.run()  # the posted agenda is edited: confirmed
    said.say(JA1, "agenda")
    said.refused(MOD, "session start")  # not today
    said.refused(MOD, f"session start {meeting}")  # not its day
    said.refused(JA1, "present")  # no session open

    # -- the session ----------------------------------------------------------------------
    room.clock.set(utc("26.11.2026", "09:30"))  # 10:30 in Berlin: Thursday's meeting runs
    said.run()
    said.mod("session start")
    said.refused(MOD, "session start")  # running
    said.say(JC, "present")
    said.say(MOD, "excused agentur")
    said.refused(JC, "excused agentur")  # only one's own institution
    room.mod(f"navigator {first} {JC}")  # outcomes: another part of issue 15
    room.mod(f"review {first} 10.12.2026")
    said.mod("overview")
    ended = room.mod("session end")
    said.keep("session end", ended.split(MINUTES)[0])  # the minutes: another part
    assert second in ended.split(MINUTES)[0], ended
    said.refused(MOD, "session end")
    said.refused(MOD, f"session start {meeting}")  # held

    # -- timed messages after the session ---------------------------------------------------
    room.clock.set(utc("03.12.2026", "08:00"))  # the review in 7 days; the minutes
    said.run()
    room.clock.set(utc("09.12.2026", "08:00"))  # the review tomorrow
    said.run()
    room.clock.set(utc("11.12.2026", "08:00"))  # the review overdue
    said.run()
    said.mod("overview")
    return said


def test_an_english_room_plans_and_holds_its_meetings_in_english(room: Room) -> None:
    said = _scenario(room, "en")
    said.check()
    text = "\n".join(t for _, t in said.messages)
    for expected in (
        "No meetings planned. Create one: `!fk meeting new …`",
        "📅 Meeting created: #",
        "Thu 26 Nov 2026, 10:00–12:00 Case conference – 2/6 cases",
        "is a Saturday. Please check that this is intended.",
        "🔁 Series Interface meeting created (FREQ=MONTHLY;BYDAY=2WE, 10:00, 120 minutes, "
        "at most 6 cases of 20 minutes each; public holidays: skipped).",
        "Please create a meeting (`!fk meeting new …` or `!fk poll ",
        "That meeting time is in the past.",
        "Allowed options: duration=, places=, minutes=.",
        "places must be a number between 1 and 50.",
        "Rule not recognised. Examples: “every 2nd Wednesday of the month”",
        "Meetings repeat at most once a day.",
        "The end must be after the start (on the same day).",
        "This meeting does not exist (any more).",
        "📋 Agenda: Case conference – meeting #",
        "requested by Jobcenter Wetteraukreis; taking part: ",
        "⏳ Not confirmed yet (version ",
        "ℹ️ Your ✅ does not confirm the agenda: only moderators can do that.",
        "📎 Calendar file for meeting #",
        "meeting-",
        "🗳️ Poll #",
        "Vote in poll #",
        "Your vote does not count here",
        "The poll has not reached the room yet",
        "Poll #",
        "/2 institutions",
        "The poll has ended. Meeting: ",
        "⏰ Reminder: Case conference (meeting #",
        "⏳ Agenda not confirmed: Case conference (meeting #",
        "To the moderators: ",
        "📅 Meeting #",
        "❌ Meeting #",
        "✅ Agenda of meeting #",
        "The agenda of meeting #",
        "✅ Confirmed by ",
        "🟢 Session opened: Case conference – meeting #",
        "Quorate from 2 institutions.",
        "is present. Represented: 2 institutions",
        "is excused from meeting #",
        "⏭️ Not discussed and postponed: ",
        "📊 Overview – as of ",
        "Overdue: 1 review, 0 tasks",
        "⏰ Review: ",
        "(in 7 days).",
        "(tomorrow).",
        "⚠️ Review overdue: ",
        "📝 Minutes not confirmed: Case conference (meeting #",
    ):
        assert expected in text, expected
    assert "`!fk minutes confirm " in text
    assert "`!fk agenda confirm " in text


def test_a_german_room_says_the_same_in_german(room: Room) -> None:
    said = _scenario(room, "de")
    # "METHOD:REQUEST" names the iCalendar method of the file (RFC 5546), in any language.
    said.check(allowed=frozenset({"request"}))
    text = "\n".join(t for _, t in said.messages)
    for expected in (
        "Keine Termine geplant. Anlegen: `!fk termin neu …`",
        "Do 26.11.2026 10:00–12:00 Fallkonferenz – 2/6 Fälle",
        "ist ein Samstag. Bitte prüfen, ob das gemeint ist.",
        "höchstens 6 Fälle à 20 Minuten; Feiertage: auslassen).",
        "Regel nicht erkannt. Beispiele: „jeden 2. Mittwoch im Monat“",
        "⏰ Erinnerung: Fallkonferenz (Termin #",
        "📋 Tagesordnung Fallkonferenz – Termin #",
        "ℹ️ Dein ✅ bestätigt die Tagesordnung nicht: das kann nur die Moderation.",
        "📎 Kalenderdatei für Termin #",
        "termin-",
        "🟢 Sitzung eröffnet: Fallkonferenz – Termin #",
        "Beschlussfähig ab 2 Institutionen.",
        "Überfällig: 1 Wiedervorlage, 0 Aufgaben",
        "(in 7 Tagen).",
        "(morgen).",
        "📝 Protokoll nicht bestätigt: Fallkonferenz (Termin #",
    ):
        assert expected in text, expected
    assert "`!fk protokoll bestätigen " in text


def test_english_series_rules_mean_the_german_ones() -> None:
    from domain.series import parse_rule

    for english, german in (
        ("every 2nd Wednesday of the month", "jeden 2. Mittwoch im Monat"),
        ("every last Friday", "jeden letzten Freitag"),
        ("every Wednesday", "jeden Mittwoch"),
        ("every 2 weeks on Tuesday", "alle 2 Wochen Dienstag"),
        ("each first Mon", "jeden ersten Mo"),
    ):
        assert parse_rule(english) == parse_rule(german), english


def test_fill_puts_the_parts_into_the_translated_sentence() -> None:
    from commands.i18n import texts
    from commands.reply import Doc, b, code, fill, holes

    for language, expected in (
        ("de", "❌ Termin **#3** am Mi 02.12.2026 10:00 abgesagt."),
        ("en", "❌ Meeting **#3** on Wed 2 Dec 2026, 10:00 cancelled."),
    ):
        t = texts(language)
        text = t.gettext(
            "❌ Termin %(id)s am %(when)s abgesagt.",
            when=t.when(datetime(2026, 12, 2, 9, 0, tzinfo=UTC)),
            **holes("id"),
        )
        reply = Doc().para(*fill(text, id=b("#3"))).build()
        assert reply.html == "<p>" + expected.replace("**#3**", "<b>#3</b>") + "</p>"
        assert reply.plain == expected.replace("**", "")
    assert fill(holes("x")["x"], x=code("c")) == (code("c"),)  # a hole alone
