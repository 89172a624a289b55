"""``fkbot demo``: a throwaway homeserver, an encrypted agency room, the bot and a scripted session.

Everything is real: Synapse on 127.0.0.1, matrix-nio clients for the people, the
bot as it runs in production. The transcript is printed as the room's members
read it. Later capabilities extend :data:`SCRIPT`.
"""

from __future__ import annotations

import shutil
import sys
import tempfile
import textwrap
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from bot.testing.botrun import InProcessBot, prepare_bot
from bot.testing.peers import Participant, Seen
from bot.testing.synapse import SynapseServer

BERLIN = ZoneInfo("Europe/Berlin")


@dataclass(frozen=True)
class Person:
    key: str
    name: str
    institution: str


PEOPLE = (
    Person("lehmann", "Frau Lehmann", "Jugendamt, Moderation"),
    Person("yilmaz", "Herr Yılmaz", "Jugendamt"),
    Person("becker", "Frau Becker", "Jobcenter"),
)

# (who, what they type, what the narrator says first)
SCRIPT: tuple[tuple[str, str, str], ...] = (
    ("yilmaz", "!fk ping", "Der Jugendamt-Kollege prüft, ob der Bot im Raum ist."),
    ("becker", "!fk hilfe", "Die Jobcenter-Kollegin lässt sich die Befehle zeigen."),
    ("lehmann", "!fk hilfe ping", "Die Moderatorin fragt nach einem Befehl im Detail."),
    ("becker", "!fk pnig", "Ein Tippfehler: der Bot schlägt den richtigen Befehl vor."),
    ("yilmaz", "!fk Mustermann", "Ein Name statt eines Befehls: der Bot wiederholt ihn nicht."),
    ("yilmaz", "!fk ping bitte", "Zu viele Angaben: klare Fehlermeldung mit Aufruf."),
    ("becker", "!fk hilfe <b>fett</b>", "HTML in der Eingabe wird nie als HTML ausgegeben."),
)

RESTART_STEP = ("yilmaz", "!fk ping", "Nach dem Neustart: gleiches Gerät, alles entschlüsselbar.")


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
        body = seen.body.splitlines() or [""]
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
        setup = prepare_bot(server, base / "bot", localpart="fallkonferenz")
        bot = InProcessBot(setup)
        await bot.start()
        print(f"Bot angemeldet als {setup.user_id}, Gerät {bot.app.settings.matrix.device_id}")
        for person in PEOPLE:
            user = server.register(person.key, displayname=person.name)
            participant = Participant(server.base_url, user, base / "people" / person.key)
            await participant.start()
            participants[person.key] = participant
        names = {
            p.user_id: f"{person.name} ({person.institution})"
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

        async def step(who: str, text: str, narration: str) -> None:
            transcript.narrate(narration)
            event_id = await participants[who].send(room_id, text)
            reply = await moderator.wait_reply(event_id, 60)
            command = next(s for s in moderator.seen if s.event_id == event_id)
            transcript.message(command)
            transcript.message(reply)

        for who, text, narration in SCRIPT:
            await step(who, text, narration)

        transcript.narrate("Der Bot wird neu gestartet (wie bei einem Update).")
        device = bot.app.settings.matrix.device_id
        await bot.stop()
        bot = InProcessBot(setup)
        await bot.start()
        await step(*RESTART_STEP)
        print(f"  (Gerät vor und nach dem Neustart: {device})")
        print("\n══ Ende der Vorführung ══")
        print("Alle Nachrichten waren Ende-zu-Ende-verschlüsselt (🔒).")
        return 0
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
