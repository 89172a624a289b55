"""Case work in an English room and in a German one (issue 15): every reply of the case
commands — success and refusal — in the room's language.

One realistic scenario (a new case, a request before any consent, a consent for two
institutions with an expiry date, the consent shown to the lead institution and to
another, requests and status, a request that needs a third institution and one about
entrusted data, a revocation, the child-protection mandate opened, refused to its
opener, confirmed by a colleague and ended, and the refusals on the way) is played in
both languages with the same data. Every reply is checked for the other language's
words (``bot/testing/language.py``); a few sentences are checked word for word, so that
"no German word" cannot pass by saying nothing.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import UTC, datetime

import pytest

from bot.clock import FakeClock
from bot.ids import UserId
from bot.testing.harness import AA, ADMIN, JA1, JA2, JC, ORG, Room
from bot.testing.language import foreign_words, without_code
from domain.pseudonym import new_pseudonym
from storage.models import CaseFile
from storage.uow import Database

# Names from the configuration are data, shown as configured in every language
# ("Agentur für Arbeit Gießen" has a "für" in it); so are the topics.
DATA = sorted([*(i.name for i in ORG.institutions.values()), *ORG.topics], key=len, reverse=True)
PSEUDONYM = re.compile(r"\bFK-[0-9A-Z]{4}-[0-9A-Z]{2}\b")

# The commands and values of the scenario in both languages.
WORDS = {
    "en": {
        "case new": "case new",
        "consent": "consent {p} by=parents to=jugendamt,jobcenter form=written "
        "date=20.11.2026 doc=EW-17 until=30.06.2027",
        "consent show": "consent show {p}",
        "request": "request {p} topic=Ausbildung urgency=regular "
        "participants=jugendamt until=15.01.2027",
        "request agentur": "request {p} topic=Familie urgency=urgent participants=agentur",
        "request entrusted": "request {p} topic=Familie urgency=regular "
        "participants=jobcenter entrusted=yes",
        "requests": "requests",
        "requests waiting": "requests status=waiting",
        "requests page": "requests page=7",
        "requests page 0": "requests page=-1",
        "status": "status {p}",
        "revoke": "revoke {p} jobcenter",
        "revoke all": "revoke {p}",
        "protection": "protection {p} reason=kw-gefaehrdung",
        "protection again": "protection {p} reason=gewalt",
        "protection confirm": "protection confirm {p}",
        "protection end": "protection end {p}",
        "future consent": "consent {p} by=parents to=agentur form=written date=01.12.2027 "
        "doc=EW-18",
        "until before date": "consent {p} by=parents to=agentur form=written "
        "date=20.11.2026 doc=EW-18 until=01.11.2026",
        "bad reference": "consent {p} by=parents to=agentur form=written date=20.11.2026 doc=EW-A",
        "bad purpose": "consent {p} by=parents to=agentur form=written "
        "date=20.11.2026 doc=EW-18 purpose=x1",
        "past latest": "request {p} topic=Familie urgency=regular participants=jugendamt "
        "until=20.11.2026",
    },
    "de": {
        "case new": "fall neu",
        "consent": "einwilligung {p} von=sorgeberechtigte an=jugendamt,jobcenter "
        "form=schriftlich datum=20.11.2026 dok=EW-17 bis=30.06.2027",
        "consent show": "einwilligung zeigen {p}",
        "request": "anfrage {p} thema=Ausbildung dringlichkeit=regulär "
        "teilnehmer=jugendamt bis=15.01.2027",
        "request agentur": "anfrage {p} thema=Familie dringlichkeit=dringend teilnehmer=agentur",
        "request entrusted": "anfrage {p} thema=Familie dringlichkeit=regulär "
        "teilnehmer=jobcenter anvertraut=ja",
        "requests": "anfragen",
        "requests waiting": "anfragen status=wartet",
        "requests page": "anfragen seite=7",
        "requests page 0": "anfragen seite=-1",
        "status": "status {p}",
        "revoke": "widerruf {p} jobcenter",
        "revoke all": "widerruf {p}",
        "protection": "schutzauftrag {p} grund=kw-gefaehrdung",
        "protection again": "schutzauftrag {p} grund=gewalt",
        "protection confirm": "schutzauftrag bestätigen {p}",
        "protection end": "schutzauftrag beenden {p}",
        "future consent": "einwilligung {p} von=sorgeberechtigte an=agentur form=schriftlich "
        "datum=01.12.2027 dok=EW-18",
        "until before date": "einwilligung {p} von=sorgeberechtigte an=agentur "
        "form=schriftlich datum=20.11.2026 dok=EW-18 bis=01.11.2026",
        "bad reference": "einwilligung {p} von=sorgeberechtigte an=agentur form=schriftlich "
        "datum=20.11.2026 dok=EW-A",
        "bad purpose": "einwilligung {p} von=sorgeberechtigte an=agentur form=schriftlich "
        "datum=20.11.2026 dok=EW-18 zweck=x1",
        "past latest": "anfrage {p} thema=Familie dringlichkeit=regulär teilnehmer=jugendamt "
        "bis=20.11.2026",
    },
}


@dataclass
class Scenario:
    """The replies of the scenario, by step."""

    room: Room
    language: str
    replies: dict[str, str] = field(default_factory=dict)
    pseudonym: str = ""

    def say(self, step: str, sender: UserId, key: str | None = None) -> str:
        command = WORDS[self.language][key or step].format(p=self.pseudonym)
        reply = self.room.say(sender, command)
        self.replies[step] = reply
        return reply


def _play(room: Room, language: str) -> Scenario:
    if language == "en":
        assert room.mod("sprache en") == "🌐 This room now speaks English."
    room.mod("termin neu 27.11.2026 10:00")  # a meeting the ready request is placed into
    s = Scenario(room, language)
    created = s.say("case new", JA1)
    match = PSEUDONYM.search(created)
    assert match is not None, created
    s.pseudonym = match.group(0)

    # Before any consent: the request waits, and the reply says for whom.
    s.say("request waiting", JC, "request")
    s.say("consent", JA1)  # covers both: the request becomes ready and is placed
    s.say("consent show (owner)", JA1, "consent show")
    s.say("consent show (other)", JC, "consent show")
    s.say("request agentur", JC)  # the consent does not name the Agentur
    s.say("request entrusted", JC)  # entrusted data: only the confiding person consents
    s.say("requests", ADMIN)
    s.say("requests waiting", ADMIN)
    s.say("requests page", ADMIN)
    s.say("status", AA)
    s.say("revoke", JA1)  # the request for the Jobcenter waits again

    # The child-protection mandate: opened, four eyes, confirmed, ended.
    s.say("protection confirm (none)", JA2, "protection confirm")
    s.say("protection end (none)", JA2, "protection end")
    s.say("protection", JA1)
    s.say("protection again", JA2)
    s.say("protection confirm (opener)", JA1, "protection confirm")
    s.say("protection confirm", JA2)
    s.say("status (mandate)", JC, "status")
    s.say("protection (not jugendamt)", JC, "protection")
    s.say("protection end", JA2)
    s.say("revoke all", JA1)
    s.say("consent show (revoked)", JA1, "consent show")

    # Refusals.
    s.say("consent (not owner)", JC, "consent")
    s.say("revoke (not owner)", AA, "revoke all")
    s.say("future consent", JA1)
    s.say("until before date", JA1)
    s.say("bad reference", JA1)
    s.say("bad purpose", JA1)
    s.say("past latest", JC)
    s.say("requests page 0", ADMIN)
    known = s.pseudonym
    s.pseudonym = new_pseudonym("no such case")
    s.say("status (unknown case)", JC, "status")
    s.say("consent show (unknown case)", JC, "consent show")
    s.pseudonym = known
    with room.db.uow() as uow:  # the case was closed (after a sitting's outcome)
        case = uow.session.get(CaseFile, known)
        assert case is not None
        case.state = "erledigt"
        uow.commit()
    s.say("request (closed case)", JC, "request")
    s.say("status (closed case)", JC, "status")
    s.say("new case (no consent yet)", JA2, "case new")
    match = PSEUDONYM.search(s.replies["new case (no consent yet)"])
    assert match is not None
    s.pseudonym = match.group(0)
    s.say("consent show (none)", JA2, "consent show")
    s.say("status (nothing)", JA2, "status")
    return s


# Paragraphs written by commands/sessions.py (``report``: what the change placed on an
# agenda or could not place), another helper's area: left out here while they are
# German, checked as soon as they are not.
SESSIONS_REPORT = re.compile(r"^(?:🗓️|⚠️) Anfrage #\d+ \(FK-")


def _checked(reply: str) -> str:
    text = "\n\n".join(p for p in reply.split("\n\n") if not SESSIONS_REPORT.match(p))
    for name in DATA:
        text = text.replace(name, " ")
    return without_code(text)


@pytest.fixture
def clock() -> FakeClock:
    # Monday 23.11.2026, 10:00 in Berlin.
    return FakeClock(datetime(2026, 11, 23, 9, 0, tzinfo=UTC))


@pytest.fixture
def room(sqlite_database: Database, clock: FakeClock) -> Room:
    return Room(sqlite_database, clock)


@pytest.mark.parametrize("language", ["en", "de"])
def test_every_case_reply_speaks_the_rooms_language(room: Room, language: str) -> None:
    s = _play(room, language)
    problems = {
        step: foreign_words(_checked(reply), language)
        for step, reply in s.replies.items()
        if foreign_words(_checked(reply), language)
    }
    assert problems == {}, "\n\n".join(f"--- {k}\n{v}" for k, v in s.replies.items())


# Lines of the scenario, word for word; {p} is the case's pseudonym. The German ones are
# the texts as they were before the catalog.
LINES = {
    "en": {
        "request waiting": [
            "📨 Request #1 for {p}: Ausbildung, regular, participants: Jobcenter "
            "Wetteraukreis, Jugendamt Wetteraukreis, by 15 Jan 2027 at the latest.",
            "⏸️ Status: waiting for consent. Missing:",
            "• Jobcenter Wetteraukreis: no consent names this institution",
        ],
        "consent": [
            "📝 Consent v1 for {p} recorded: Jobcenter Wetteraukreis, Jugendamt "
            "Wetteraukreis – given on 20 Nov 2026, valid until 30 Jun 2027.",
            "✅ Request #1 is now ready.",
        ],
        "consent show (owner)": [
            "Consents for {p} (as of 23 Nov 2026)",
            "• Jobcenter Wetteraukreis: covered until 30 Jun 2027",
            "Details (for the lead institution only):",
            "• v1: parents, written, given 20 Nov 2026, until 30 Jun 2027, purpose: case "
            "conference, to jobcenter, jugendamt, reference `EW-17`",
        ],
        "request entrusted": [
            "• Jobcenter Wetteraukreis: entrusted data (§ 65 SGB VIII): the consent was not "
            "given by the person who confided it (consent v1)",
        ],
        "requests": [
            "Open requests (3)",
            "• #1 {p} – Ausbildung, regular, from Jobcenter Wetteraukreis, by 15 Jan 2027: "
            "ready → meeting #1 on Fri 27 Nov 2026, 10:00",
            "• #2 {p} – Familie, urgent, from Jobcenter Wetteraukreis: waiting for consent",
        ],
        "requests waiting": ["Open requests (2, filtered)"],
        "requests page": ["There is no page 7; there is only 1."],
        "status": [
            "Case {p} – lead institution: Jugendamt Wetteraukreis, open",
            "Covered by consent today: Jobcenter Wetteraukreis, Jugendamt Wetteraukreis",
            "Missing for #2:",
            "• Agentur für Arbeit Gießen: no consent names this institution",
        ],
        "revoke": [
            "🛑 Revocation for {p} recorded (Jobcenter Wetteraukreis), effective immediately.",
            "⏸️ Request #1 is waiting for consent again:",
            "• Jobcenter Wetteraukreis: revoked (consent v1)",
        ],
        "protection": [
            "🛡️ Child-protection mandate (§ 8a SGB VIII) opened for {p}, reason kw-gefaehrdung.",
            "It takes effect only once another Jugendamt caseworker has confirmed it: "
            "`!fk protection confirm {p}`",
        ],
        "protection confirm": [
            "🛡️ Child-protection mandate for {p} confirmed (§ 8a SGB VIII).",
            "✅ Request #2 is now ready (child-protection mandate, § 8a).",
        ],
        "status (mandate)": [
            "Child-protection mandate (§ 8a SGB VIII, reason kw-gefaehrdung): confirmed"
        ],
        "protection again": [
            "⚠️ There is already a child-protection mandate for {p} (open).",
        ],
        "protection end": ["Child-protection mandate for {p} ended."],
        "consent show (revoked)": ["• Revocation effective 23 Nov 2026: all institutions"],
        "revoke (not owner)": [
            "⚠️ Only a caseworker of the lead institution (Jugendamt Wetteraukreis) can "
            "record revocations."
        ],
        "request (closed case)": ["⚠️ This case is closed; no further requests can be made."],
        "status (closed case)": ["Covered by consent today: no institution"],
        "consent show (none)": ["No consent recorded yet."],
        "status (nothing)": ["No requests."],
    },
    "de": {
        "request waiting": [
            "📨 Anfrage #1 für {p}: Ausbildung, regulär, Teilnehmende: Jobcenter "
            "Wetteraukreis, Jugendamt Wetteraukreis, spätestens 15.01.2027.",
            "⏸️ Status: wartet auf Einwilligung. Es fehlt:",
            "• Jobcenter Wetteraukreis: keine Einwilligung nennt diese Institution",
        ],
        "consent": [
            "📝 Einwilligung v1 für {p} erfasst: Jobcenter Wetteraukreis, Jugendamt "
            "Wetteraukreis – erteilt am 20.11.2026, gültig bis 30.06.2027.",
            "✅ Anfrage #1 ist jetzt bereit.",
        ],
        "consent show (owner)": [
            "Einwilligungen für {p} (Stand 23.11.2026)",
            "• Jobcenter Wetteraukreis: abgedeckt bis 30.06.2027",
            "Einzelheiten (nur für die fallführende Institution):",
            "• v1: sorgeberechtigte, schriftlich, erteilt 20.11.2026, bis 30.06.2027, Zweck "
            "fallkonferenz, an jobcenter, jugendamt, Verweis `EW-17`",
        ],
        "requests": [
            "Offene Anfragen (3)",
            "• #1 {p} – Ausbildung, regulär, von Jobcenter Wetteraukreis, bis 15.01.2027: "
            "bereit → Termin #1 am Fr 27.11.2026 10:00",
        ],
        "requests waiting": ["Offene Anfragen (2, gefiltert)"],
        "requests page": ["Seite 7 gibt es nicht; es gibt 1."],
        "status": ["Fall {p} – fallführend: Jugendamt Wetteraukreis, offen"],
        "revoke": [
            "🛑 Widerruf für {p} erfasst (Jobcenter Wetteraukreis), gilt ab sofort.",
            "• Jobcenter Wetteraukreis: widerrufen (Einwilligung v1)",
        ],
        "protection": [
            "Er gilt erst nach Bestätigung durch eine andere Fachkraft des Jugendamts: "
            "`!fk schutzauftrag bestätigen {p}`",
        ],
        "protection again": ["⚠️ Für {p} besteht bereits ein Schutzauftrag (offen)."],
        "revoke all": ["🛑 Widerruf für {p} erfasst (alle Institutionen), gilt ab sofort."],
        "status (closed case)": ["Fall {p} – fallführend: Jugendamt Wetteraukreis, erledigt"],
    },
}


@pytest.mark.parametrize("language", ["en", "de"])
def test_the_case_replies_say_it_in_whole_sentences(room: Room, language: str) -> None:
    s = _play(room, language)
    first = PSEUDONYM.search(s.replies["case new"])
    assert first is not None
    for step, lines in LINES[language].items():
        reply = s.replies[step]
        for line in lines:
            assert line.format(p=first.group(0)) in reply, (step, line, reply)


def test_a_new_case_names_the_next_step_in_the_rooms_command_words(room: Room) -> None:
    room.mod("sprache en")
    reply = room.say(JA1, "case new")
    match = PSEUDONYM.search(reply)
    assert match is not None
    assert reply == (
        f"📁 New case: {match.group(0)} (lead institution: Jugendamt Wetteraukreis)\n\n"
        f"Please note the pseudonym in your own file. Next step: `!fk consent {match.group(0)} …`"
    )
