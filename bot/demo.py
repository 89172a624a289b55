"""``fkbot demo``: a throwaway homeserver, an encrypted agency room, the bot and a scripted session.

Everything is real: Synapse on 127.0.0.1, matrix-nio clients for the people, the
bot as it runs in production. The transcript is printed as the room's members
read it. Later capabilities extend :data:`SCRIPT`.
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
    name: str
    label: str
    institution: str
    roles: tuple[str, ...]


PEOPLE = (
    Person("lehmann", "Frau Lehmann", "Präventionsbüro, Moderation", "jugendamt", ("moderation",)),
    Person("yilmaz", "Herr Yılmaz", "Jugendamt", "jugendamt", ("fachkraft",)),
    Person("kaya", "Frau Kaya", "Jugendamt", "jugendamt", ("fachkraft",)),
    Person("becker", "Frau Becker", "Jobcenter", "jobcenter", ("fachkraft",)),
)

INSTITUTIONS = {
    "jugendamt": {"name": "Jugendamt Kreis", "type": "jugendamt"},
    "jobcenter": {"name": "Jobcenter Kreis", "type": "jobcenter"},
    "agentur": {"name": "Agentur für Arbeit", "type": "agentur"},
}

DEMO_RULE = "jeden 2. Mittwoch im Monat"
# The series starts this far ahead, so the first session lies beyond every moment the
# demo jumps to before it (a week's reminder, the agenda three working days before),
# whatever today is. Without it the demo failed on about a quarter of the days.
DEMO_LEAD = timedelta(days=10)


# (who, what they type, what the narrator says first); {fall} is the pseudonym the
# bot hands out in the step that creates the case.
SCRIPT: tuple[tuple[str, str, str], ...] = (
    ("yilmaz", "!fk ping", "Der Jugendamt-Kollege prüft, ob der Bot im Raum ist."),
    ("becker", "!fk wer", "Die Jobcenter-Kollegin prüft, wie der Bot sie kennt."),
    ("becker", "!fk pnig", "Ein Tippfehler: der Bot schlägt den richtigen Befehl vor."),
    ("yilmaz", "!fk Mustermann", "Ein Name statt eines Befehls: der Bot wiederholt ihn nicht."),
    (
        "yilmaz",
        "!fk fall neu",
        "Schritt 1: der Jugendamt-Kollege legt den Fall an – nur ein Pseudonym.",
    ),
    (
        "becker",
        "!fk anfrage {fall} thema=Ausbildung dringlichkeit=regulär teilnehmer=jugendamt,agentur",
        "Schritt 3: das Jobcenter beantragt eine Fallkonferenz – noch ohne Einwilligung.",
    ),
    (
        "yilmaz",
        "!fk einwilligung {fall} von=sorgeberechtigte an=jugendamt,jobcenter "
        "form=schriftlich datum=heute dok=anna.schmidt@web.de",
        "Versehentlich eine E-Mail-Adresse als Dokumentverweis: der Bot speichert nichts "
        "und wiederholt sie nicht.",
    ),
    (
        "yilmaz",
        "!fk einwilligung {fall} von=sorgeberechtigte an=jugendamt,jobcenter "
        "form=schriftlich datum=heute dok=EW-17",
        "Schritt 2: die Einwilligung der Mutter deckt Jugendamt und Jobcenter – die Agentur fehlt.",
    ),
    (
        "yilmaz",
        "!fk einwilligung {fall} von=betroffene_person an=agentur form=elektronisch "
        "datum=heute dok=EW-18 bis=31.12.2027",
        "Die Jugendliche willigt für die Agentur ein: jetzt ist die Anfrage bereit.",
    ),
    (
        "becker",
        "!fk einwilligung zeigen {fall}",
        "Das Jobcenter sieht, wer abgedeckt ist – die Einzelheiten nur das Jugendamt.",
    ),
    ("yilmaz", "!fk widerruf {fall} agentur", "Die Jugendliche widerruft für die Agentur."),
    (
        "becker",
        "!fk schutzauftrag {fall} grund=kw-gefaehrdung",
        "Den Schutzauftrag nach § 8a darf nur das Jugendamt eröffnen.",
    ),
    (
        "yilmaz",
        "!fk schutzauftrag {fall} grund=kw-gefaehrdung",
        "Schritt 5: das Jugendamt eröffnet den Schutzauftrag …",
    ),
    (
        "yilmaz",
        "!fk schutzauftrag bestätigen {fall}",
        "… bestätigen darf ihn nicht dieselbe Person.",
    ),
    (
        "kaya",
        "!fk schutzauftrag bestätigen {fall}",
        "Eine zweite Fachkraft des Jugendamts bestätigt (Vier-Augen-Prinzip).",
    ),
    ("lehmann", "!fk anfragen", "Die Moderatorin sieht die offenen Anfragen – nur Pseudonyme."),
    (
        "lehmann",
        f'!fk reihe neu Präventionsteam regel="{DEMO_RULE}" zeit=10:00-12:00 '
        "plätze=6 minuten=20 ab={ab}",
        "Schritt 6: die Moderatorin legt die monatliche Sitzung an; der Bot plant den Fall ein.",
    ),
    ("kaya", "!fk fall neu", "Eine zweite Familie: die Kollegin im Jugendamt legt den Fall an."),
    (
        "kaya",
        "!fk einwilligung {fall2} von=sorgeberechtigte an=jugendamt,jobcenter "
        "form=schriftlich datum=heute dok=EW-21",
        "Die Eltern willigen für Jugendamt und Jobcenter ein.",
    ),
    (
        "becker",
        "!fk anfrage {fall2} thema=Wohnen dringlichkeit=regulär teilnehmer=jugendamt",
        "Das Jobcenter beantragt die Konferenz – der Bot plant sie sofort ein.",
    ),
    ("becker", "!fk fall neu", "Ein dritter Fall, diesmal aus dem Jobcenter."),
    (
        "becker",
        "!fk einwilligung {fall3} von=betroffene_person an=jobcenter,jugendamt "
        "form=elektronisch datum=heute dok=JC-EW-5",
        "Der junge Erwachsene willigt für Jobcenter und Jugendamt ein.",
    ),
    (
        "yilmaz",
        "!fk anfrage {fall3} thema=Ausbildung dringlichkeit=regulär teilnehmer=jobcenter",
        "Das Jugendamt beantragt die Konferenz.",
    ),
    (
        "becker",
        "!fk agenda",
        "Die Tagesordnung des nächsten Termins: drei Fälle, nur Pseudonyme, § 8a markiert.",
    ),
    ("lehmann", "!fk status {typo}", "Ein Tippfehler im Pseudonym: das Prüfzeichen fängt ihn ab."),
)

RESTART_STEP = ("yilmaz", "!fk status {fall}", "Nach dem Neustart: gleiches Gerät, gleiche Daten.")
_PSEUDONYM = re.compile(r"FK-[0-9A-Z]{4}-[0-9A-Z]{2}")


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


_WEEKDAYS = ("Montag", "Dienstag", "Mittwoch", "Donnerstag", "Freitag", "Samstag", "Sonntag")


def _day_text(moment: datetime) -> str:
    local = moment.astimezone(BERLIN)
    return f"{_WEEKDAYS[local.weekday()]}, {local:%d.%m.%Y %H:%M}"


def audit_verdict(url: str) -> Verdict:
    engine = make_engine(url)
    try:
        with Database(engine).uow() as uow:
            return verify(uow.audit.entries(), uow.audit.head())
    finally:
        engine.dispose()


class Transcript:
    def __init__(self, names: dict[str, str]) -> None:
        self.names = names

    def narrate(self, text: str) -> None:
        print(f"\n  ── {text}")

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
            prefix = f"  [{when:%H:%M:%S}] {lock} {who} ✏️ bearbeitet: "
            text = str(new.get("body", text))
        body = text.splitlines() or [""]
        print(prefix + body[0])
        indent = " " * 8
        for line in body[1:]:
            print(textwrap.indent(line, indent) if line else "")


async def run_demo(*, keep: bool = False, workdir: Path | None = None) -> int:
    owned = workdir is None
    base = Path(tempfile.mkdtemp(prefix="fkbot-demo-")) if workdir is None else workdir
    base.mkdir(parents=True, exist_ok=True)
    print("Fallkonferenz-Bot – Vorführung")
    print(f"Arbeitsverzeichnis: {base}")
    print("Starte einen Wegwerf-Homeserver (Synapse) auf 127.0.0.1 …", flush=True)
    server = SynapseServer(base / "synapse", server_name="kreis.test", log_level="WARNING")
    participants: dict[str, Participant] = {}
    bot: InProcessBot | None = None
    try:
        server.start()
        print(f"Homeserver läuft: {server.base_url}")
        users = {p.key: server.register(p.key, displayname=p.name) for p in PEOPLE}
        agency = {
            "institutions": INSTITUTIONS,
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
        print(f"Bot angemeldet als {setup.user_id}, Gerät {bot.app.settings.matrix.device_id}")
        for person in PEOPLE:
            participant = Participant(
                server.base_url, users[person.key], base / "people" / person.key
            )
            await participant.start()
            participants[person.key] = participant
        names = {
            p.user_id: f"{person.name} ({person.label})"
            for person, p in zip(PEOPLE, participants.values(), strict=True)
        }
        names[setup.user_id] = "Fallkonferenz-Bot"
        transcript = Transcript(names)

        moderator = participants["lehmann"]
        room_id = await moderator.create_encrypted_room(
            "Präventionsteam Kreis – Fallkonferenzen",
            [p.user_id for k, p in participants.items() if k != "lehmann"] + [setup.user_id],
        )
        for key, participant in participants.items():
            if key != "lehmann":
                await participant.join(room_id)
        for participant in participants.values():
            await moderator.wait_for_member(room_id, participant.user_id)
        await moderator.wait_for_member(room_id, setup.user_id)
        print("Verschlüsselter Raum angelegt; alle sind beigetreten.")
        print("\n══ Raumverlauf ══")

        case: dict[str, str] = {"ab": format_date(series_start(datetime.now(BERLIN).date()))}

        async def step(who: str, text: str, narration: str) -> Seen:
            transcript.narrate(narration)
            event_id = await participants[who].send(room_id, text.format(**case))
            reply = await moderator.wait_reply(event_id, 60)
            command = next(s for s in moderator.seen if s.event_id == event_id)
            transcript.message(command)
            transcript.message(reply)
            found = _PSEUDONYM.search(reply.body)
            if text.strip() == "!fk fall neu" and found:
                if "fall" not in case:
                    case.update(fall=found.group(), typo=typo_of(found.group()))
                else:
                    case[f"fall{sum(k.startswith('fall') for k in case) + 1}"] = found.group()
            return reply

        for who, text, narration in SCRIPT:
            await step(who, text, narration)

        transcript.narrate("Der Bot wird neu gestartet (wie bei einem Update).")
        device = bot.app.settings.matrix.device_id
        await bot.stop()
        bot = InProcessBot(setup, clock=clock)
        await bot.start()
        await step(*RESTART_STEP)
        print(f"  (Gerät vor und nach dem Neustart: {device})")

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
            transcript.narrate(f"⏩ {_day_text(when)} – {narration}")
            clock.jump_to(when)
            assert bot is not None
            assert bot.app.timer is not None
            bot.app.timer.fire()
            return await bot_says(count)

        async def step_reply(who: str, text: str, narration: str) -> Seen:
            nonlocal shown
            reply = await step(who, text, narration)
            shown += 1
            return reply

        async def said(who: str, text: str, narration: str, extra: int) -> None:
            nonlocal shown
            await step(who, text, narration)
            shown += 1  # the reply, printed by step()
            await bot_says(extra)

        starts = next_session_start(bot.app.settings.database.url)
        calendar = bot.app.settings.schedule.calendar()
        post_at = calendar.agenda_post_at(starts)
        assert post_at is not None
        late = [m for m in jump_moments(starts, calendar) if m <= datetime.now(UTC)]
        assert not late, f"Sprungziel in der Vergangenheit: {late}"
        transcript.narrate(
            "Ab hier springt die Uhr des Bots zu den Tagen, auf die es ankommt "
            f"(Sitzung am {_day_text(starts)})."
        )
        week, agenda = starts - timedelta(days=7), post_at
        agenda_message: Seen | None = None
        for when, what in sorted([(week, "week"), (agenda, "agenda")]):
            if what == "week":
                await jump(when, "eine Woche vor der Sitzung: Erinnerung.", 1)
            else:
                [agenda_message] = await jump(
                    when, "drei Werktage vorher stellt der Bot die Tagesordnung ein.", 1
                )
        assert agenda_message is not None
        transcript.narrate("Frau Becker (Jobcenter) reagiert mit ✅ – sie moderiert nicht.")
        await participants["becker"].react(room_id, agenda_message.event_id, "✅")
        await bot_says(1)
        transcript.narrate(
            "Frau Lehmann (Moderation) bestätigt mit ✅; der Bot bearbeitet die "
            "Tagesordnung im Raum."
        )
        await moderator.react(room_id, agenda_message.event_id, "✅")
        await bot_says(2)
        await said(
            "kaya",
            "!fk widerruf {fall2}",
            "Die Eltern aus Fall 2 widerrufen: der Fall verschwindet sofort von der "
            "Tagesordnung, die Bestätigung ist aufgehoben.",
            2,
        )
        await jump(
            starts - timedelta(days=1),
            "ein Tag vorher: Erinnerung an alle, Mahnung an die Moderation.",
            2,
        )
        await said(
            "lehmann",
            "!fk agenda bestätigen",
            "Frau Lehmann prüft die neue Fassung und bestätigt per Befehl.",
            1,
        )
        await jump(starts - timedelta(hours=1), "eine Stunde vorher.", 1)

        # -- the session itself: attendance, outcomes, minutes, the Lotse's reminder ----
        clock.jump_to(starts - timedelta(minutes=2))
        transcript.narrate(f"⏩ {_day_text(starts - timedelta(minutes=2))} – die Sitzung beginnt.")
        opening = await step_reply(
            "lehmann", "!fk sitzung start", "Frau Lehmann eröffnet die Sitzung."
        )
        transcript.narrate("Frau Becker meldet sich mit ✋ auf die Eröffnung an.")
        await participants["becker"].react(room_id, opening.event_id, "✋")
        await bot_says(1)
        review_day = (starts + timedelta(days=14)).astimezone(BERLIN)
        for who, text, narration in (
            ("yilmaz", "!fk anwesend", "Herr Yılmaz ist da – das Jugendamt ist vertreten."),
            ("lehmann", "!fk entschuldigt agentur", "Die Agentur hat sich entschuldigt."),
            (
                "yilmaz",
                "!fk beschluss {fall} Teilnahme am Jugendberufshilfe-Projekt ab Januar; "
                "Schulsozialarbeit einbeziehen",
                "Schritt 9: der erste Fall – ein Beschluss …",
            ),
            ("lehmann", "!fk lotse {fall} " + participants["kaya"].user_id, "… die Lotsin …"),
            (
                "yilmaz",
                "!fk aufgabe {fall} "
                + participants["becker"].user_id
                + f" Termin bei der Berufsberatung vereinbaren bis {review_day:%d.%m.%Y}",
                "… eine Aufgabe für das Jobcenter …",
            ),
            (
                "yilmaz",
                f"!fk wiedervorlage {{fall}} {review_day:%d.%m.%Y}",
                "… und die Wiedervorlage in zwei Wochen.",
            ),
        ):
            await step_reply(who, text, narration)
        minutes = await step_reply(
            "lehmann",
            "!fk sitzung ende",
            "Der dritte Fall wurde nicht mehr besprochen: er wird automatisch auf den "
            "nächsten Termin vertagt. Das Protokoll kommt als Antwort.",
        )
        transcript.narrate("Frau Lehmann bestätigt das Protokoll mit ✅.")
        await moderator.react(room_id, minutes.event_id, "✅")
        await bot_says(2)
        await jump(
            datetime.combine((review_day - timedelta(days=7)).date(), time(8, 0), tzinfo=BERLIN),
            "eine Woche vor der Wiedervorlage: der Bot erinnert die Lotsin.",
            1,
        )
        print("\n══ Ende der Vorführung ══")
        print("Alle Nachrichten waren Ende-zu-Ende-verschlüsselt (🔒).")
        verdict = audit_verdict(bot.app.settings.database.url)
        print(
            f"Audit-Kette (fkbot audit verify): {verdict.count} Einträge, "
            + ("in Ordnung." if verdict.ok else f"GEBROCHEN: {verdict.problem}")
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
            print(f"Daten liegen in {base}", file=sys.stderr)
