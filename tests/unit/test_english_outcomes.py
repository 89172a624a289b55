"""Outcomes, minutes and their exports in the room's language (issue 15).

One conference, held once in a room switched to English (with the English command
words) and once in a German room: decisions (one before the quorum is there), a
navigator, tasks with and without a deadline, a review date, an item postponed, a case
closed, the minutes shown, confirmed (twice) and exported — Markdown, PDF (read back
with pypdf) and JSON — and the error replies of these commands. Every reply and every
exported text must be free of the other language's terms
(:func:`bot.testing.language.foreign_words`); what a user types is chosen in the
room's language, and code spans (usage lines, commands) are checked elsewhere.

The cases and sessions are set up before the switch: the harness reads the German
replies of ``fall neu``, ``anfrage`` and ``termin neu``.
"""

from __future__ import annotations

import base64
import io
import json
import re
from dataclasses import dataclass
from datetime import UTC, datetime

import pytest
from pypdf import PdfReader
from sqlalchemy import select

from bot.clock import FakeClock
from bot.testing.harness import AA, JA1, JC, MOD, Room, utc
from bot.testing.language import foreign_words, without_code
from bot.txn import txn_id_for
from bot.upload import UPLOAD_KEY
from storage.models import InboxEvent, OutboxMessage
from storage.uow import Database

THURSDAY = "26.11.2026 10:00"
NEXT_THURSDAY = "03.12.2026 10:00"
DURING = utc("26.11.2026", "09:30")  # 10:30 in Berlin: the session of THURSDAY runs


@dataclass(frozen=True)
class Words:
    """The command words and the user's texts of one language."""

    decision: str
    navigator: str
    task: str
    review: str
    review_done: str
    postpone: str
    close: str
    minutes: str
    confirm: str
    export: str
    until: str
    reason: str
    decision_text: str
    task_text: str
    reason_text: str


ENGLISH = Words(
    decision="decision",
    navigator="navigator",
    task="task",
    review="review",
    review_done="review done",
    postpone="postpone",
    close="close",
    minutes="minutes",
    confirm="minutes confirm",
    export="minutes export",
    until="until",
    reason="reason",
    decision_text="Joins the youth employment project from January",
    task_text="Arrange careers advice",
    reason_text="school report missing",
)
GERMAN = Words(
    decision="beschluss",
    navigator="lotse",
    task="aufgabe",
    review="wiedervorlage",
    review_done="wiedervorlage erledigt",
    postpone="vertagen",
    close="erledigt",
    minutes="protokoll",
    confirm="protokoll bestätigen",
    export="protokoll export",
    until="bis",
    reason="grund",
    decision_text="Teilnahme am Projekt der Jugendberufshilfe ab Januar",
    task_text="Berufsberatung vereinbaren",
    reason_text="Zeugnis fehlte",
)
WORDS = {"en": ENGLISH, "de": GERMAN}

# Words both languages share that the other language's list contains:
# none so far; each entry would need its reason here.
ALLOWED: dict[str, frozenset[str]] = {"en": frozenset(), "de": frozenset()}


@pytest.fixture
def clock() -> FakeClock:
    # Monday 23.11.2026, 10:00 in Berlin.
    return FakeClock(datetime(2026, 11, 23, 9, 0, tzinfo=UTC))


@pytest.fixture
def room(sqlite_database: Database, clock: FakeClock) -> Room:
    return Room(sqlite_database, clock)


# Matrix ids are data, not wording (the moderator is @mona.moderation:fk.test).
MATRIX_ID = re.compile(r"@[\w.=/+-]+:[\w.-]+")


def check(text: str, language: str) -> None:
    prose = MATRIX_ID.sub(" ", without_code(text))
    found = foreign_words(prose, language, allowed=ALLOWED[language])
    assert found == set(), (found, text)


def refused(reply: str, language: str, *expected: str) -> None:
    assert reply.startswith("⚠️ "), reply
    for part in expected:
        assert part in reply, (part, reply)
    check(reply, language)


def last_event_id(room: Room) -> str:
    with room.db.uow() as uow:
        row = uow.session.scalars(
            select(InboxEvent).order_by(InboxEvent.received_at.desc())
        ).first()
        assert row is not None
        return row.event_id


def attachments(room: Room, event_id: str) -> dict[str, tuple[str, bytes]]:
    """The exported files posted for the command ``event_id``: name and bytes by type."""
    files = {}
    with room.db.uow() as uow:
        for ext in ("md", "pdf", "json"):
            row = uow.session.scalars(
                select(OutboxMessage).where(
                    OutboxMessage.txn_id == txn_id_for(event_id, f"export-{ext}")
                )
            ).one()
            data = base64.b64decode(row.content[UPLOAD_KEY]["data"])
            files[ext] = (row.content["filename"], data)
    return files


def pdf_text(data: bytes) -> str:
    pages = [page.extract_text() for page in PdfReader(io.BytesIO(data)).pages]
    return " ".join(" ".join(pages).split())


def hold_a_conference(room: Room, language: str) -> tuple[dict[str, str], int, list[str]]:
    """The whole conference; every reply of the outcome and minutes commands by name,
    the session items were postponed to and the four cases (decided, postponed, closed,
    not reached)."""
    w = WORDS[language]
    session = room.adhoc(THURSDAY)
    cases = [room.ready_case()[0] for _ in range(4)]
    assert len(room.agenda_ids(session)) == 4  # all four are on Thursday's agenda
    later = room.adhoc(NEXT_THURSDAY)
    outsider = room.new_case()  # a case on no agenda
    decided, postponed, closed, _untouched = cases  # the last is not reached
    if language == "en":
        assert room.mod("sprache en") == "🌐 This room now speaks English."
    replies: dict[str, str] = {}

    # Before any sitting has ended there are no minutes.
    replies["no minutes"] = room.say(JC, w.minutes)
    room.clock.set(DURING)
    room.mod("sitzung start")  # the sitting's replies are checked with the sitting

    # Only the moderator's institution is there: the decision warns about the quorum.
    replies["decision without quorum"] = room.say(JA1, f"{w.decision} {decided} {w.decision_text}")
    room.say(JC, "anwesend")
    replies["decision"] = room.mod(f"{w.decision} {decided} {w.decision_text} (2)")
    replies["not on the agenda"] = room.say(JA1, f"{w.decision} {outsider} {w.decision_text}")
    replies["not taking part"] = room.say(AA, f"{w.decision} {decided} {w.decision_text}")
    replies["too long"] = room.say(JA1, f"{w.decision} {decided} " + "ok " * 400)

    replies["navigator"] = room.mod(f"{w.navigator} {decided} {JA1}")
    replies["navigator no id"] = room.mod(f"{w.navigator} {decided} anna")
    replies["navigator outside"] = room.mod(f"{w.navigator} {decided} {AA}")

    replies["task"] = room.say(JC, f"{w.task} {decided} {JC} {w.task_text} {w.until} 15.01.2027")
    replies["task no deadline"] = room.say(JC, f"{w.task} {decided} {JA1} {w.task_text}")
    replies["task past"] = room.say(
        JC, f"{w.task} {decided} {JC} {w.task_text} {w.until} 01.11.2026"
    )

    replies["review"] = room.say(JA1, f"{w.review} {decided} 15.03.2027")
    replies["review past"] = room.say(JA1, f"{w.review} {decided} 20.11.2026")
    replies["review done none"] = room.say(JA1, f"{w.review_done} {postponed}")
    replies["review done not navigator"] = room.say(JC, f"{w.review_done} {decided}")

    replies["postpone no reason"] = room.mod(f"{w.postpone} {postponed} {w.reason_text}")
    replies["postpone long"] = room.mod(f"{w.postpone} {postponed} {w.reason}=" + "x" * 201)
    replies["postpone"] = room.mod(f"{w.postpone} {postponed} {w.reason}={w.reason_text}")

    replies["close not owner"] = room.say(JC, f"{w.close} {closed}")
    replies["close"] = room.say(JA1, f"{w.close} {closed}")
    replies["close again"] = room.say(JA1, f"{w.close} {closed}")

    room.mod("sitzung ende")
    replies["minutes"] = room.say(JC, w.minutes)
    replies["minutes unknown"] = room.say(JC, f"{w.minutes} 999")
    replies["confirm"] = room.mod(w.confirm)
    replies["confirm again"] = room.mod(w.confirm)
    replies["minutes confirmed"] = room.say(JC, f"{w.minutes} {session}")
    replies["export"] = room.say(JC, w.export)
    export_event = last_event_id(room)
    replies["review done"] = room.say(JA1, f"{w.review_done} {decided}")
    replies["_event"] = export_event
    return replies, later, cases


@pytest.mark.parametrize("language", ["en", "de"])
def test_every_outcome_and_minutes_reply_speaks_the_rooms_language(
    room: Room, language: str
) -> None:
    replies, _, _ = hold_a_conference(room, language)
    replies.pop("_event")
    for name, reply in replies.items():
        assert reply, name
        check(reply, language)
    errors = {k for k, v in replies.items() if v.startswith("⚠️")}
    assert errors == {
        "no minutes",
        "not on the agenda",
        "not taking part",
        "too long",
        "navigator no id",
        "navigator outside",
        "task past",
        "review past",
        "review done none",
        "review done not navigator",
        "postpone no reason",
        "postpone long",
        "close not owner",
        "close again",
        "minutes unknown",
    }, errors


def test_english_replies(room: Room) -> None:
    replies, later, (decided, postponed, closed, _) = hold_a_conference(room, "en")
    r = replies
    assert r["decision without quorum"].startswith(
        f"📌 Decision 1 on {decided}: {ENGLISH.decision_text}"
    ), r["decision without quorum"]
    assert (
        "⚠️ The session is not quorate: 1 of at least 2 institutions present."
        in (r["decision without quorum"])
    )
    assert r["decision"].startswith(f"📌 Decision 2 on {decided}: ")
    assert "quorate" not in r["decision"]
    assert "Names, addresses and other details of the family" in r["decision"]
    assert r["navigator"].startswith(f"🧭 Navigator for {decided}: {JA1} (Jugendamt ")
    assert r["task"] == (
        f"☑️ Task for {JC} (Jobcenter Wetteraukreis) on {decided}: "
        f"{ENGLISH.task_text} – due 15 Jan 2027"
    ), r["task"]
    assert r["task no deadline"].endswith(f"on {decided}: {ENGLISH.task_text}")
    assert r["review"] == (
        f"📅 Review of {decided} on 15 Mar 2027; I will remind the navigator {JA1} beforehand."
    ), r["review"]
    assert r["postpone"] == (
        f"⏭️ {postponed} postponed ({ENGLISH.reason_text}) to meeting #{later} on "
        "Thu 3 Dec 2026, 10:00."
    ), r["postpone"]
    assert r["close"].startswith(f"🏁 {closed} is closed.")
    assert r["review done"] == f"✅ Review of {decided} (15 Mar 2027) done."
    refused(r["no minutes"], "en", "There are no minutes for this")
    refused(r["minutes unknown"], "en", "There are no minutes for this")
    refused(r["not on the agenda"], "en", "is not on the agenda of the current session")
    refused(r["not taking part"], "en", "moderators or by caseworkers")
    refused(r["too long"], "en", "The text is too long (at most 1000 characters).")
    refused(r["navigator no id"], "en", "Please give the person as a Matrix ID")
    refused(r["navigator outside"], "en", "does not belong to any institution taking part")
    refused(r["task past"], "en", "The deadline is in the past.")
    refused(r["review past"], "en", "The review date must be in the future.")
    refused(r["review done none"], "en", f"There is no open review for {postponed}.")
    refused(r["review done not navigator"], "en", "navigator of the case or by the moderators")
    refused(r["postpone no reason"], "en", "Please give the reason like this: reason=<text>.")
    refused(r["postpone long"], "en", "The reason is too long (at most 200 characters).")
    refused(r["close not owner"], "en", "A case is closed by the caseworker leading it")
    refused(r["close again"], "en", f"{closed} is already closed.")

    minutes = r["minutes"]
    assert minutes.startswith("📝 Minutes of Fallkonferenz – meeting #"), minutes
    assert "Attendance" in minutes
    assert "Quorum reached: yes (2 of at least 2 institutions)." in minutes
    assert f"Decision: {ENGLISH.decision_text}" in minutes
    assert f"Navigator: {JA1} (Jugendamt Wetteraukreis)" in minutes
    assert f"Task: {JC} (Jobcenter Wetteraukreis): {ENGLISH.task_text}, due 15 Jan 2027" in (
        minutes
    )
    assert "Review: 15 Mar 2027" in minutes
    assert (
        f"Postponed ({ENGLISH.reason_text}) → meeting #{later} on Thu 3 Dec 2026, 10:00" in minutes
    )
    assert "Case closed" in minutes
    assert f"Postponed (not discussed) → meeting #{later} on Thu 3 Dec 2026, 10:00" in minutes
    assert "⏳ Not yet confirmed. Moderators: react with ✅ to this message or send " in minutes
    assert "`!fk minutes confirm " in minutes
    assert r["confirm"].startswith("✅ Minutes of meeting #")
    assert r["confirm again"].startswith("The minutes of meeting #")
    assert (
        "have already been confirmed (by @mona.moderation:fk.test on 26 Nov 2026 at "
        in (r["confirm again"])
    )
    assert "✅ Confirmed by @mona.moderation:fk.test on 26 Nov 2026 at " in r["minutes confirmed"]
    assert r["export"].startswith("📎 Minutes of meeting #")


@pytest.mark.parametrize("language", ["en", "de"])
def test_the_exports_speak_the_rooms_language(room: Room, language: str) -> None:
    replies, later, (decided, postponed, closed, untouched) = hold_a_conference(room, language)
    files = attachments(room, replies["_event"])
    names = {ext: name for ext, (name, _) in files.items()}
    stem = "minutes-meeting" if language == "en" else "protokoll-termin"
    assert all(name.startswith(f"{stem}-") for name in names.values()), names

    markdown = files["md"][1].decode()
    pdf = pdf_text(files["pdf"][1])
    exported = json.loads(files["json"][1])
    for text in (markdown, pdf):
        check(text, language)
    assert exported["language"] == language
    assert exported["format"] == "fallkonferenz-protokoll"
    assert exported["version"] == 1
    items = {p["pseudonym"]: p for p in exported["punkte"]}
    decision = WORDS[language].decision_text
    assert items[decided]["beschlüsse"] == [decision, f"{decision} (2)"]
    assert items[postponed]["vertagt"]["grund"] == WORDS[language].reason_text
    assert items[closed]["erledigt"] is True
    # the bot's own reason stays as recorded in the JSON, translated in the documents
    assert items[untouched]["vertagt"]["grund"] == "nicht behandelt"
    not_reached = "not discussed" if language == "en" else "nicht behandelt"
    assert f"{not_reached} → " in markdown
    assert f"{not_reached} → " in pdf
    reader = PdfReader(io.BytesIO(files["pdf"][1]))
    if language == "en":
        assert markdown.startswith("# Minutes of Fallkonferenz – meeting #"), markdown
        for line in (
            "## Attendance",
            "## Agenda",
            f"### Item 1: {decided}",
            "- Topic: Ausbildung",
            "Decisions:",
            "Tasks:",
            "Review: 15 Mar 2027",
            f"Postponed: {ENGLISH.reason_text} → meeting \\#{later} on Thu 3 Dec 2026, 10:00",
            "Case closed",
            "Quorum: yes (2 of at least 2 institutions)",
            "Confirmed by @mona.moderation:fk.test on Thu 26 Nov 2026, ",
        ):
            assert line in markdown, (line, markdown)
        for line in (
            "Minutes of Fallkonferenz – meeting #",
            "Meeting: Thu 26 Nov 2026, 10:00",
            "Attendance",
            "Review: 15 Mar 2027",
            "Page 1 of 1",
        ):
            assert line in pdf, (line, pdf)
        assert items[postponed]["vertagt"]["auf"] == (f"meeting #{later} on Thu 3 Dec 2026, 10:00")
        assert str(reader.root_object["/Lang"]) == "en"
    else:
        assert markdown.startswith("# Protokoll Fallkonferenz – Termin #"), markdown
        assert "Wiedervorlage: 15.03.2027" in markdown
        assert "Seite 1 von 1" in pdf
        assert items[postponed]["vertagt"]["auf"] == f"Termin #{later} am Do 03.12.2026 10:00"
        assert str(reader.root_object["/Lang"]) == "de-DE"
    # The keys are the same in both languages.
    german = json.loads(files["json"][1])
    assert set(german) == {
        "format",
        "version",
        "language",
        "termin",
        "anwesenheit",
        "beschlussfähig",
        "punkte",
        "bestätigt",
    }


def test_confirming_the_minutes_with_a_reaction_answers_in_english(room: Room) -> None:
    session = room.adhoc(THURSDAY)
    room.ready_case()
    room.mod("sprache en")
    room.clock.set(DURING)
    room.mod("sitzung start")
    room.say(JC, "anwesend")
    room.mod("sitzung ende")
    room.ack(txn_id_for(last_event_id(room), "reply"), "$minutes")

    [confirmed] = room.react(MOD, "$minutes")
    assert confirmed == f"✅ Minutes of meeting #{session} confirmed.", confirmed
    [again] = room.react(MOD, "$minutes")
    assert again.startswith(f"The minutes of meeting #{session} have already been confirmed")
    for reply in (confirmed, again):
        check(reply, "en")
