"""``fkbot demo``: a throwaway homeserver, an encrypted agency room, the bot and a scripted session.

Everything is real: Synapse on 127.0.0.1, matrix-nio clients for the people, the
bot as it runs in production. The transcript is printed as the room's members
read it. Later capabilities extend :data:`SCRIPT`.

``fkbot demo --language en`` plays the same conference in English: the moderator
switches the room with ``language en``, the participants type the English command
words (commands/english.py) and ISO dates, and the narration is a catalog text.
"""

from __future__ import annotations

import re
import shutil
import sys
import tempfile
import textwrap
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path

from bot.clock import ShiftedClock
from bot.testing.botrun import InProcessBot, prepare_bot
from bot.testing.peers import Participant, Seen
from bot.testing.synapse import SynapseServer
from commands.i18n import N_, SOURCE_LANGUAGE, Texts, texts
from domain.calendar import Calendar
from domain.dates import format_date
from domain.series import HolidayRule, occurrences, parse_rule
from storage.audit import Verdict, verify
from storage.db import make_engine
from storage.types import LOCAL_TZ
from storage.uow import Database

BERLIN = LOCAL_TZ


@dataclass(frozen=True)
class Person:
    key: str
    name: str  # catalog texts: "Frau Lehmann" / "Ms Lehmann"
    label: str
    institution: str
    roles: tuple[str, ...]


PEOPLE = (
    Person(
        "lehmann",
        N_("Frau Lehmann"),
        N_("Präventionsbüro, Moderation"),
        "jugendamt",
        ("moderation",),
    ),
    Person("yilmaz", N_("Herr Yılmaz"), N_("Jugendamt"), "jugendamt", ("fachkraft",)),
    Person("kaya", N_("Frau Kaya"), N_("Jugendamt"), "jugendamt", ("fachkraft",)),
    Person("becker", N_("Frau Becker"), N_("Jobcenter"), "jobcenter", ("fachkraft",)),
)

INSTITUTIONS = {
    "jugendamt": {"name": N_("Jugendamt Kreis"), "type": "jugendamt"},
    "jobcenter": {"name": N_("Jobcenter Kreis"), "type": "jobcenter"},
    "agentur": {"name": N_("Agentur für Arbeit"), "type": "agentur"},
}

# The topics the agency configured (config ``agency.topics``): an English-speaking
# agency names its own; the German ones are the defaults.
TOPICS = {"en": ("Training", "Housing", "Health", "Child-protection", "Family", "School")}

DEMO_RULE = "jeden 2. Mittwoch im Monat"
# The same rule as the RRULE the parser makes of it: language-neutral, typed in the
# demo's other languages (the rule phrases are German only).
DEMO_RRULE = "FREQ=MONTHLY;BYDAY=2WE"
# The series starts this far ahead, so the first session lies beyond every moment the
# demo jumps to before it (a week's reminder, the agenda three working days before),
# whatever today is. Without it the demo failed on about a quarter of the days.
DEMO_LEAD = timedelta(days=10)


@dataclass(frozen=True)
class Step:
    """One message a participant types: the German text, the same command with the
    English words (typed in every other language's demo), and what the narrator says
    first (a catalog text). ``{fall}`` is the pseudonym the step that creates the case
    got; ``{heute}``, ``{ab}``, ``{review}`` are dates as the demo's language types
    them (:func:`typed_values`). A step without German text plays only outside German
    (switching the room to its language)."""

    who: str
    de: str | None
    en: str
    narration: str
    creates_case: bool = False

    def text(self, language: str) -> str | None:
        return self.de if language == SOURCE_LANGUAGE else self.en


LANGUAGE_STEP = Step(
    "lehmann",
    None,
    "!fk language {language}",
    N_("Die Moderatorin stellt den Raum auf ihre Sprache um."),
)

SCRIPT: tuple[Step, ...] = (
    LANGUAGE_STEP,
    Step(
        "yilmaz",
        "!fk ping",
        "!fk ping",
        N_("Der Jugendamt-Kollege prüft, ob der Bot im Raum ist."),
    ),
    Step(
        "becker",
        "!fk wer",
        "!fk whoami",
        N_("Die Jobcenter-Kollegin prüft, wie der Bot sie kennt."),
    ),
    Step(
        "becker",
        "!fk pnig",
        "!fk pnig",
        N_("Ein Tippfehler: der Bot schlägt den richtigen Befehl vor."),
    ),
    Step(
        "yilmaz",
        "!fk Mustermann",
        "!fk Mustermann",
        N_("Ein Name statt eines Befehls: der Bot wiederholt ihn nicht."),
    ),
    Step(
        "yilmaz",
        "!fk fall neu",
        "!fk case new",
        N_("Schritt 1: der Jugendamt-Kollege legt den Fall an – nur ein Pseudonym."),
        creates_case=True,
    ),
    Step(
        "becker",
        "!fk anfrage {fall} thema=Ausbildung dringlichkeit=regulär teilnehmer=jugendamt,agentur",
        "!fk request {fall} topic=Training urgency=regular participants=jugendamt,agentur",
        N_("Schritt 3: das Jobcenter beantragt eine Fallkonferenz – noch ohne Einwilligung."),
    ),
    Step(
        "yilmaz",
        "!fk einwilligung {fall} von=sorgeberechtigte an=jugendamt,jobcenter "
        "form=schriftlich datum={heute} dok=anna.schmidt@web.de",
        "!fk consent {fall} by=parents to=jugendamt,jobcenter "
        "form=written date={heute} doc=anna.schmidt@web.de",
        N_(
            "Versehentlich eine E-Mail-Adresse als Dokumentverweis: der Bot speichert "
            "nichts und wiederholt sie nicht."
        ),
    ),
    Step(
        "yilmaz",
        "!fk einwilligung {fall} von=sorgeberechtigte an=jugendamt,jobcenter "
        "form=schriftlich datum={heute} dok=EW-17",
        "!fk consent {fall} by=parents to=jugendamt,jobcenter form=written date={heute} doc=EW-17",
        N_(
            "Schritt 2: die Einwilligung der Mutter deckt Jugendamt und Jobcenter – "
            "die Agentur fehlt."
        ),
    ),
    Step(
        "yilmaz",
        "!fk einwilligung {fall} von=betroffene_person an=agentur form=elektronisch "
        "datum={heute} dok=EW-18 bis={bis}",
        "!fk consent {fall} by=person_concerned to=agentur form=electronic "
        "date={heute} doc=EW-18 until={bis}",
        N_("Die Jugendliche willigt für die Agentur ein: jetzt ist die Anfrage bereit."),
    ),
    Step(
        "becker",
        "!fk einwilligung zeigen {fall}",
        "!fk consent show {fall}",
        N_("Das Jobcenter sieht, wer abgedeckt ist – die Einzelheiten nur das Jugendamt."),
    ),
    Step(
        "yilmaz",
        "!fk widerruf {fall} agentur",
        "!fk revoke {fall} agentur",
        N_("Die Jugendliche widerruft für die Agentur."),
    ),
    Step(
        "becker",
        "!fk schutzauftrag {fall} grund=kw-gefaehrdung",
        "!fk protection {fall} reason=kw-gefaehrdung",
        N_("Den Schutzauftrag nach § 8a darf nur das Jugendamt eröffnen."),
    ),
    Step(
        "yilmaz",
        "!fk schutzauftrag {fall} grund=kw-gefaehrdung",
        "!fk protection {fall} reason=kw-gefaehrdung",
        N_("Schritt 5: das Jugendamt eröffnet den Schutzauftrag …"),
    ),
    Step(
        "yilmaz",
        "!fk schutzauftrag bestätigen {fall}",
        "!fk protection confirm {fall}",
        N_("… bestätigen darf ihn nicht dieselbe Person."),
    ),
    Step(
        "kaya",
        "!fk schutzauftrag bestätigen {fall}",
        "!fk protection confirm {fall}",
        N_("Eine zweite Fachkraft des Jugendamts bestätigt (Vier-Augen-Prinzip)."),
    ),
    Step(
        "lehmann",
        "!fk anfragen",
        "!fk requests",
        N_("Die Moderatorin sieht die offenen Anfragen – nur Pseudonyme."),
    ),
    Step(
        "lehmann",
        f'!fk reihe neu Präventionsteam regel="{DEMO_RULE}" zeit=10:00-12:00 '
        "plätze=6 minuten=20 ab={ab}",
        f'!fk series new "Prevention team" rule="{DEMO_RRULE}" time=10:00-12:00 '
        "places=6 minutes=20 from={ab}",
        N_(
            "Schritt 6: die Moderatorin legt die monatliche Sitzung an; der Bot plant den Fall ein."
        ),
    ),
    Step(
        "kaya",
        "!fk fall neu",
        "!fk case new",
        N_("Eine zweite Familie: die Kollegin im Jugendamt legt den Fall an."),
        creates_case=True,
    ),
    Step(
        "kaya",
        "!fk einwilligung {fall2} von=sorgeberechtigte an=jugendamt,jobcenter "
        "form=schriftlich datum={heute} dok=EW-21",
        "!fk consent {fall2} by=parents to=jugendamt,jobcenter form=written date={heute} doc=EW-21",
        N_("Die Eltern willigen für Jugendamt und Jobcenter ein."),
    ),
    Step(
        "becker",
        "!fk anfrage {fall2} thema=Wohnen dringlichkeit=regulär teilnehmer=jugendamt",
        "!fk request {fall2} topic=Housing urgency=regular participants=jugendamt",
        N_("Das Jobcenter beantragt die Konferenz – der Bot plant sie sofort ein."),
    ),
    Step(
        "becker",
        "!fk fall neu",
        "!fk case new",
        N_("Ein dritter Fall, diesmal aus dem Jobcenter."),
        creates_case=True,
    ),
    Step(
        "becker",
        "!fk einwilligung {fall3} von=betroffene_person an=jobcenter,jugendamt "
        "form=elektronisch datum={heute} dok=JC-EW-5",
        "!fk consent {fall3} by=person_concerned to=jobcenter,jugendamt "
        "form=electronic date={heute} doc=JC-EW-5",
        N_("Der junge Erwachsene willigt für Jobcenter und Jugendamt ein."),
    ),
    Step(
        "yilmaz",
        "!fk anfrage {fall3} thema=Ausbildung dringlichkeit=regulär teilnehmer=jobcenter",
        "!fk request {fall3} topic=Training urgency=regular participants=jobcenter",
        N_("Das Jugendamt beantragt die Konferenz."),
    ),
    Step(
        "becker",
        "!fk agenda",
        "!fk agenda",
        N_("Die Tagesordnung des nächsten Termins: drei Fälle, nur Pseudonyme, § 8a markiert."),
    ),
    Step(
        "lehmann",
        "!fk status {typo}",
        "!fk status {typo}",
        N_("Ein Tippfehler im Pseudonym: das Prüfzeichen fängt ihn ab."),
    ),
)

RESTART_STEP = Step(
    "yilmaz",
    "!fk status {fall}",
    "!fk status {fall}",
    N_("Nach dem Neustart: gleiches Gerät, gleiche Daten."),
)
WITHDRAWAL_STEP = Step(
    "kaya",
    "!fk widerruf {fall2}",
    "!fk revoke {fall2}",
    N_(
        "Die Eltern aus Fall 2 widerrufen: der Fall verschwindet sofort von der "
        "Tagesordnung, die Bestätigung ist aufgehoben."
    ),
)
CONFIRM_STEP = Step(
    "lehmann",
    "!fk agenda bestätigen",
    "!fk agenda confirm",
    N_("Frau Lehmann prüft die neue Fassung und bestätigt per Befehl."),
)
OPENING_STEP = Step(
    "lehmann",
    "!fk sitzung start",
    "!fk session start",
    N_("Frau Lehmann eröffnet die Sitzung."),
)
# ``{kaya}``/``{becker}``: their Matrix ids; ``{review}`` the review date as typed,
# ``{review_text}`` as written in a sentence.
SESSION_STEPS: tuple[Step, ...] = (
    Step(
        "yilmaz",
        "!fk anwesend",
        "!fk present",
        N_("Herr Yılmaz ist da – das Jugendamt ist vertreten."),
    ),
    Step(
        "lehmann",
        "!fk entschuldigt agentur",
        "!fk excused agentur",
        N_("Die Agentur hat sich entschuldigt."),
    ),
    Step(
        "yilmaz",
        "!fk beschluss {fall} Teilnahme am Jugendberufshilfe-Projekt ab Januar; "
        "Schulsozialarbeit einbeziehen",
        "!fk decision {fall} Join the youth employment project from January; "
        "involve school social work",
        N_("Schritt 9: der erste Fall – ein Beschluss …"),
    ),
    Step("lehmann", "!fk lotse {fall} {kaya}", "!fk navigator {fall} {kaya}", N_("… die Lotsin …")),
    Step(
        "yilmaz",
        "!fk aufgabe {fall} {becker} Termin bei der Berufsberatung vereinbaren bis {review_text}",
        "!fk task {fall} {becker} Book an appointment with the careers service by {review_text}",
        N_("… eine Aufgabe für das Jobcenter …"),
    ),
    Step(
        "yilmaz",
        "!fk wiedervorlage {fall} {review}",
        "!fk review {fall} {review}",
        N_("… und die Wiedervorlage in zwei Wochen."),
    ),
)
CLOSING_STEP = Step(
    "lehmann",
    "!fk sitzung ende",
    "!fk session end",
    N_(
        "Der dritte Fall wurde nicht mehr besprochen: er wird automatisch auf den "
        "nächsten Termin vertagt. Das Protokoll kommt als Antwort."
    ),
)

# Every step, in the order the demo plays them (the tests check the English script).
ALL_STEPS: tuple[Step, ...] = (
    *SCRIPT,
    RESTART_STEP,
    WITHDRAWAL_STEP,
    CONFIRM_STEP,
    OPENING_STEP,
    *SESSION_STEPS,
    CLOSING_STEP,
)

_PSEUDONYM = re.compile(r"FK-[0-9A-Z]{4}-[0-9A-Z]{2}")


def typed_values(language: str, today: date, review_day: date) -> dict[str, str]:
    """The dates as a participant types them: German ``heute`` and ``24.12.2026``,
    elsewhere ISO dates (the date parser reads them in every language); the review
    date in a sentence as the room's language writes it."""
    t = texts(language)
    if language == SOURCE_LANGUAGE:
        typed = {
            "heute": "heute",
            "ab": format_date(series_start(today)),
            "bis": "31.12.2027",
            "review": format_date(review_day),
        }
    else:
        typed = {
            "heute": today.isoformat(),
            "ab": series_start(today).isoformat(),
            "bis": "2027-12-31",
            "review": review_day.isoformat(),
        }
    return typed | {"review_text": t.day(review_day), "language": language}


def series_start(today: date) -> date:
    """The ``ab=`` date of the demo's series."""
    return today + DEMO_LEAD


def first_session(today: date, calendar: Calendar) -> datetime:
    """When the demo's first session begins if the series is created ``today``."""
    first_day = series_start(today)
    for occurrence in occurrences(
        parse_rule(DEMO_RULE),
        first_day,
        time(10, 0),
        after=first_day,
        until=first_day + timedelta(days=calendar.horizon_days),
        is_holiday=calendar.is_holiday,
        holiday_rule=HolidayRule.SKIP,
    ):
        return datetime.combine(occurrence.day, occurrence.at, tzinfo=BERLIN).astimezone(UTC)
    raise RuntimeError("keine Sitzung im Planungshorizont")


def jump_moments(starts: datetime, calendar: Calendar) -> list[datetime]:
    """Every moment the demo's clock jumps to, in the order it jumps."""
    post_at = calendar.agenda_post_at(starts)
    assert post_at is not None
    review_day = (starts + timedelta(days=14)).astimezone(BERLIN)
    return [
        *sorted([starts - timedelta(days=7), post_at]),
        starts - timedelta(days=1),
        starts - timedelta(hours=1),
        starts - timedelta(minutes=2),
        datetime.combine((review_day - timedelta(days=7)).date(), time(8, 0), tzinfo=BERLIN),
    ]


def typo_of(pseudonym: str) -> str:
    """The pseudonym with two neighbouring characters swapped, as a hurried typist would."""
    chars = list(pseudonym)
    for i in range(3, len(chars) - 1):
        if chars[i] != chars[i + 1] and "-" not in (chars[i], chars[i + 1]):
            chars[i], chars[i + 1] = chars[i + 1], chars[i]
            break
    return "".join(chars)


def next_session_start(url: str) -> datetime:
    """When the bot's next session with cases on its agenda begins."""
    engine = make_engine(url)
    try:
        with Database(engine).uow() as uow:
            for session in uow.sessions.upcoming(datetime.now(UTC)):
                if uow.sessions.placements(session.id):
                    return session.starts_at
    finally:
        engine.dispose()
    raise RuntimeError("kein Termin mit Fällen")


_WEEKDAYS = (
    N_("Montag"),
    N_("Dienstag"),
    N_("Mittwoch"),
    N_("Donnerstag"),
    N_("Freitag"),
    N_("Samstag"),
    N_("Sonntag"),
)


def day_text(t: Texts, moment: datetime) -> str:
    """``Mittwoch, 13.01.2027 10:00`` / ``Wednesday, 13 Jan 2027 10:00``."""
    local = moment.astimezone(BERLIN)
    return t.gettext(
        "%(weekday)s, %(date)s %(time)s",
        weekday=t.gettext(_WEEKDAYS[local.weekday()]),
        date=t.day(local.date()),
        time=t.time(local),
    )


def audit_verdict(url: str) -> Verdict:
    engine = make_engine(url)
    try:
        with Database(engine).uow() as uow:
            return verify(uow.audit.entries(), uow.audit.head())
    finally:
        engine.dispose()


class Transcript:
    def __init__(self, names: dict[str, str], t: Texts) -> None:
        self.names = names
        self.t = t

    def narrate(self, text: str) -> None:
        """A narrator's line: a catalog text (German msgid), or one already in the language."""
        print(f"\n  ── {self.t.gettext(text)}")

    def message(self, seen: Seen) -> None:
        when = datetime.fromtimestamp(seen.raw["origin_server_ts"] / 1000, BERLIN)
        who = self.names.get(seen.sender, seen.sender)
        lock = "🔒" if seen.decrypted else "  "
        prefix = f"  [{when:%H:%M:%S}] {lock} {who}: "
        if seen.in_reply_to:
            prefix = f"  [{when:%H:%M:%S}] {lock} {who} ↩ "
        text = seen.body
        relates = seen.raw.get("content", {}).get("m.relates_to") or {}
        if relates.get("rel_type") == "m.replace":
            new = seen.raw["content"].get("m.new_content") or {}
            edited = self.t.gettext("✏️ bearbeitet:")
            prefix = f"  [{when:%H:%M:%S}] {lock} {who} {edited} "
            text = str(new.get("body", text))
        body = text.splitlines() or [""]
        print(prefix + body[0])
        indent = " " * 8
        for line in body[1:]:
            print(textwrap.indent(line, indent) if line else "")


def demo_agency(language: str) -> dict[str, object]:
    """The ``[agency]`` section without its people: institutions named in the language,
    and an English-speaking agency's own topics."""
    t = texts(language)
    agency: dict[str, object] = {
        "institutions": {
            key: {"name": t.gettext(spec["name"]), "type": spec["type"]}
            for key, spec in INSTITUTIONS.items()
        }
    }
    if language in TOPICS:
        agency["topics"] = list(TOPICS[language])
    return agency


async def run_demo(
    *, keep: bool = False, workdir: Path | None = None, language: str = SOURCE_LANGUAGE
) -> int:
    """The demo in ``language``: the room is switched to it by the moderator, and the
    participants type the commands with that language's words (English words in every
    language but German)."""
    t = texts(language)
    owned = workdir is None
    base = Path(tempfile.mkdtemp(prefix="fkbot-demo-")) if workdir is None else workdir
    base.mkdir(parents=True, exist_ok=True)
    print(t.gettext("Fallkonferenz-Bot – Vorführung"))
    print(t.gettext("Arbeitsverzeichnis: %(path)s", path=base))
    print(t.gettext("Starte einen Wegwerf-Homeserver (Synapse) auf 127.0.0.1 …"), flush=True)
    server = SynapseServer(base / "synapse", server_name="kreis.test", log_level="WARNING")
    participants: dict[str, Participant] = {}
    bot: InProcessBot | None = None
    try:
        server.start()
        print(t.gettext("Homeserver läuft: %(url)s", url=server.base_url))
        users = {p.key: server.register(p.key, displayname=t.gettext(p.name)) for p in PEOPLE}
        agency = demo_agency(language) | {
            "people": [
                {
                    "user": users[p.key].user_id,
                    "institution": p.institution,
                    "roles": list(p.roles),
                }
                for p in PEOPLE
            ],
        }
        setup = prepare_bot(server, base / "bot", localpart="fallkonferenz", agency=agency)
        clock = ShiftedClock()  # the bot's days pass on request; Synapse keeps real time
        bot = InProcessBot(setup, clock=clock)
        await bot.start()
        print(
            t.gettext(
                "Bot angemeldet als %(user)s, Gerät %(device)s",
                user=setup.user_id,
                device=bot.app.settings.matrix.device_id,
            )
        )
        for person in PEOPLE:
            participant = Participant(
                server.base_url, users[person.key], base / "people" / person.key
            )
            await participant.start()
            participants[person.key] = participant
        names = {
            p.user_id: f"{t.gettext(person.name)} ({t.gettext(person.label)})"
            for person, p in zip(PEOPLE, participants.values(), strict=True)
        }
        names[setup.user_id] = t.gettext("Fallkonferenz-Bot")
        transcript = Transcript(names, t)

        moderator = participants["lehmann"]
        room_id = await moderator.create_encrypted_room(
            t.gettext("Präventionsteam Kreis – Fallkonferenzen"),
            [p.user_id for k, p in participants.items() if k != "lehmann"] + [setup.user_id],
        )
        for key, participant in participants.items():
            if key != "lehmann":
                await participant.join(room_id)
        for participant in participants.values():
            await moderator.wait_for_member(room_id, participant.user_id)
        await moderator.wait_for_member(room_id, setup.user_id)
        print(t.gettext("Verschlüsselter Raum angelegt; alle sind beigetreten."))
        print("\n══ " + t.gettext("Raumverlauf") + " ══")

        today = datetime.now(BERLIN).date()
        # The review date is only known once the session's day is; a placeholder until then.
        case: dict[str, str] = typed_values(language, today, today) | {
            "kaya": participants["kaya"].user_id,
            "becker": participants["becker"].user_id,
        }

        async def step(item: Step) -> Seen | None:
            text = item.text(language)
            if text is None:
                return None
            transcript.narrate(item.narration)
            event_id = await participants[item.who].send(room_id, text.format(**case))
            reply = await moderator.wait_reply(event_id, 60)
            command = next(s for s in moderator.seen if s.event_id == event_id)
            transcript.message(command)
            transcript.message(reply)
            found = _PSEUDONYM.search(reply.body)
            if item.creates_case and found:
                if "fall" not in case:
                    case.update(fall=found.group(), typo=typo_of(found.group()))
                else:
                    case[f"fall{sum(k.startswith('fall') for k in case) + 1}"] = found.group()
            return reply

        for item in SCRIPT:
            await step(item)

        transcript.narrate(N_("Der Bot wird neu gestartet (wie bei einem Update)."))
        device = bot.app.settings.matrix.device_id
        await bot.stop()
        bot = InProcessBot(setup, clock=clock)
        await bot.start()
        await step(RESTART_STEP)
        print(t.gettext("  (Gerät vor und nach dem Neustart: %(device)s)", device=device))

        # -- the month up to the session: reminders, agenda, confirmation ----------
        bot_user = setup.user_id
        shown = len([m for m in moderator.seen if m.sender == bot_user])

        async def bot_says(count: int) -> list[Seen]:
            """Wait for ``count`` more messages of the bot's own and print them."""
            nonlocal shown
            await moderator.wait_until(
                lambda: len([m for m in moderator.seen if m.sender == bot_user]) >= shown + count,
                60,
            )
            new = [m for m in moderator.seen if m.sender == bot_user][shown:]
            shown += len(new)
            for message in new:
                transcript.message(message)
            return new

        async def jump(when: datetime, narration: str, count: int) -> list[Seen]:
            transcript.narrate(
                t.gettext(
                    "⏩ %(when)s – %(what)s", when=day_text(t, when), what=t.gettext(narration)
                )
            )
            clock.jump_to(when)
            assert bot is not None
            assert bot.app.timer is not None
            bot.app.timer.fire()
            return await bot_says(count)

        async def step_reply(item: Step) -> Seen:
            nonlocal shown
            reply = await step(item)
            assert reply is not None
            shown += 1
            return reply

        async def said(item: Step, extra: int) -> None:
            await step_reply(item)  # the reply, printed by step()
            await bot_says(extra)

        starts = next_session_start(bot.app.settings.database.url)
        calendar = bot.app.settings.schedule.calendar()
        post_at = calendar.agenda_post_at(starts)
        assert post_at is not None
        late = [m for m in jump_moments(starts, calendar) if m <= datetime.now(UTC)]
        assert not late, f"Sprungziel in der Vergangenheit: {late}"
        transcript.narrate(
            t.gettext(
                "Ab hier springt die Uhr des Bots zu den Tagen, auf die es ankommt "
                "(Sitzung am %(when)s).",
                when=day_text(t, starts),
            )
        )
        week, agenda = starts - timedelta(days=7), post_at
        agenda_message: Seen | None = None
        for when, what in sorted([(week, "week"), (agenda, "agenda")]):
            if what == "week":
                await jump(when, N_("eine Woche vor der Sitzung: Erinnerung."), 1)
            else:
                [agenda_message] = await jump(
                    when, N_("drei Werktage vorher stellt der Bot die Tagesordnung ein."), 1
                )
        assert agenda_message is not None
        transcript.narrate(N_("Frau Becker (Jobcenter) reagiert mit ✅ – sie moderiert nicht."))
        await participants["becker"].react(room_id, agenda_message.event_id, "✅")
        await bot_says(1)
        transcript.narrate(
            N_(
                "Frau Lehmann (Moderation) bestätigt mit ✅; der Bot bearbeitet die "
                "Tagesordnung im Raum."
            )
        )
        await moderator.react(room_id, agenda_message.event_id, "✅")
        await bot_says(2)
        await said(WITHDRAWAL_STEP, 2)
        await jump(
            starts - timedelta(days=1),
            N_("ein Tag vorher: Erinnerung an alle, Mahnung an die Moderation."),
            2,
        )
        await said(CONFIRM_STEP, 1)
        await jump(starts - timedelta(hours=1), N_("eine Stunde vorher."), 1)

        # -- the session itself: attendance, outcomes, minutes, the Lotse's reminder ----
        clock.jump_to(starts - timedelta(minutes=2))
        transcript.narrate(
            t.gettext(
                "⏩ %(when)s – %(what)s",
                when=day_text(t, starts - timedelta(minutes=2)),
                what=t.gettext("die Sitzung beginnt."),
            )
        )
        opening = await step_reply(OPENING_STEP)
        transcript.narrate(N_("Frau Becker meldet sich mit ✋ auf die Eröffnung an."))
        await participants["becker"].react(room_id, opening.event_id, "✋")
        await bot_says(1)
        review_day = (starts + timedelta(days=14)).astimezone(BERLIN)
        case.update(
            {
                k: v
                for k, v in typed_values(language, today, review_day.date()).items()
                if k.startswith("review")
            }
        )
        for item in SESSION_STEPS:
            await step_reply(item)
        minutes = await step_reply(CLOSING_STEP)
        transcript.narrate(N_("Frau Lehmann bestätigt das Protokoll mit ✅."))
        await moderator.react(room_id, minutes.event_id, "✅")
        await bot_says(2)
        await jump(
            datetime.combine((review_day - timedelta(days=7)).date(), time(8, 0), tzinfo=BERLIN),
            N_("eine Woche vor der Wiedervorlage: der Bot erinnert die Lotsin."),
            1,
        )
        print("\n══ " + t.gettext("Ende der Vorführung") + " ══")
        print(t.gettext("Alle Nachrichten waren Ende-zu-Ende-verschlüsselt (🔒)."))
        verdict = audit_verdict(bot.app.settings.database.url)
        print(
            t.ngettext(
                "Audit-Kette (fkbot audit verify): %(count)d Eintrag, in Ordnung.",
                "Audit-Kette (fkbot audit verify): %(count)d Einträge, in Ordnung.",
                verdict.count,
            )
            if verdict.ok
            else t.ngettext(
                "Audit-Kette (fkbot audit verify): %(count)d Eintrag, GEBROCHEN: %(problem)s",
                "Audit-Kette (fkbot audit verify): %(count)d Einträge, GEBROCHEN: %(problem)s",
                verdict.count,
                problem=verdict.problem,
            )
        )
        return 0 if verdict.ok else 1
    finally:
        if bot is not None:
            await bot.stop()
        for participant in participants.values():
            await participant.stop()
        server.stop()
        if owned and not keep:
            shutil.rmtree(base, ignore_errors=True)
        elif keep or not owned:
            print(t.gettext("Daten liegen in %(path)s", path=base), file=sys.stderr)
