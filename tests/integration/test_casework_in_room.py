"""Case work as the people in an encrypted agency room live it (PRODUCT.md steps 1–5).

Several real matrix-nio clients from different institutions talk to one real bot
on the test Synapse: pseudonym, conference request, consent gate, revocation, the
§ 8a path with four eyes, the personal-data guard and a user without institution.
Every assertion is on what the people actually read in the room.
"""

from __future__ import annotations

import contextlib
import json
import logging
import re
import sqlite3
from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from bot.testing.botrun import INSTITUTIONS, InProcessBot, prepare_bot
from bot.testing.inroom import People, gather
from bot.testing.peers import Participant
from domain.dates import format_date, local_date

pytestmark = pytest.mark.synapse

PSEUDONYM = re.compile(r"FK-[0-9A-Z]{4}-[0-9A-Z]{2}")
REQUEST_ID = re.compile(r"Anfrage #(\d+)")
NOT_NAMED = "keine Einwilligung nennt diese Institution"


@dataclass
class Desk:
    """One bot and the people of several institutions in one encrypted room."""

    bot: InProcessBot
    room_id: str
    who: dict[str, Participant]

    async def ask(self, name: str, text: str) -> str:
        person = self.who[name]
        event_id = await person.send(self.room_id, text)
        reply = await person.wait_reply(event_id)
        assert reply.sender == self.bot.setup.user_id
        assert reply.decrypted, "a reply in an encrypted room must be encrypted"
        return reply.body

    def bot_messages(self) -> list[str]:
        """Everything the bot posted, as every person in the room saw it (body and HTML)."""
        bot_user = self.bot.setup.user_id
        return [
            text
            for person in self.who.values()
            for seen in person.seen
            if seen.sender == bot_user
            for text in (seen.body, seen.html or "")
        ]


@asynccontextmanager
async def agency_desk(
    people: People, workdir: Path, institutions: Mapping[str, str | None]
) -> AsyncIterator[Desk]:
    """Register the people, configure the bot with exactly them, open the room, all joined.

    ``institutions`` maps a person's name to their institution key (None: not
    assigned). There is no server-wide entry, so nobody else is known to the bot.
    """
    who = {name: await people.person(name) for name in institutions}
    agency = {
        "institutions": INSTITUTIONS,
        "people": [
            {"user": who[name].user_id, "institution": key, "roles": ["fachkraft"]}
            for name, key in institutions.items()
            if key is not None
        ],
    }
    setup = prepare_bot(people.server, workdir, agency=agency)
    bot = InProcessBot(setup)
    await bot.start()
    try:
        room_id = await gather(list(who.values()), setup.user_id)
        yield Desk(bot, room_id, who)
    finally:
        await bot.stop()


def query(database: Path, sql: str, *params: object) -> list[tuple[Any, ...]]:
    """Read the bot's SQLite database (after the bot stopped)."""
    with contextlib.closing(sqlite3.connect(f"file:{database}?mode=ro", uri=True)) as conn:
        return conn.execute(sql, params).fetchall()


def today_text() -> str:
    return format_date(local_date(datetime.now(UTC)))


def one_pseudonym(body: str) -> str:
    found: set[str] = set(PSEUDONYM.findall(body))
    assert len(found) == 1, body
    return found.pop()


def consent(pseudonym: str, recipients: str, dok: str = "EW-17") -> str:
    return (
        f"!fk einwilligung {pseudonym} von=sorgeberechtigte an={recipients} "
        f"form=schriftlich datum={today_text()} dok={dok}"
    )


async def test_request_waits_for_consent_of_every_institution_and_again_after_revocation(
    people: People, tmp_path: Path
) -> None:
    async with agency_desk(
        people, tmp_path / "bot", {"jugendamt": "jugendamt", "jobcenter": "jobcenter"}
    ) as desk:
        created = await desk.ask("jugendamt", "!fk fall neu")
        assert created.startswith("📁 Neuer Fall: ")
        assert "(fallführend: Jugendamt Wetterau)" in created
        case = one_pseudonym(created)

        # The Jobcenter asks for a conference with the Jugendamt and the Agentur: no
        # consent yet, so the request waits and the bot names every institution missing.
        requested = await desk.ask(
            "jobcenter",
            f"!fk anfrage {case} thema=Ausbildung dringlichkeit=regulär "
            "teilnehmer=jugendamt,agentur",
        )
        match = REQUEST_ID.search(requested)
        assert match, requested
        request = f"#{match.group(1)}"
        assert f"📨 Anfrage {request} für {case}: Ausbildung, regulär" in requested
        assert "Teilnehmende: Agentur für Arbeit, Jobcenter Wetterau, Jugendamt Wetterau" in (
            requested
        )
        assert "⏸️ Status: wartet auf Einwilligung. Es fehlt:" in requested
        for name in ("Agentur für Arbeit", "Jobcenter Wetterau", "Jugendamt Wetterau"):
            assert f"• {name}: {NOT_NAMED}" in requested
        assert "bereit" not in requested.replace("automatisch bereit", "")

        # Consent for two of the three: still waiting, the Agentur is what is missing.
        partial = await desk.ask("jugendamt", consent(case, "jugendamt,jobcenter"))
        assert f"📝 Einwilligung v1 für {case} erfasst: Jobcenter Wetterau, Jugendamt Wetterau" in (
            partial
        )
        assert f"erteilt am {today_text()}, unbefristet." in partial
        assert "bereit" not in partial
        assert (
            f"⏸️ Anfrage {request} wartet weiterhin auf Einwilligung:\n\n"
            f"• Agentur für Arbeit: {NOT_NAMED}"
        ) in partial
        assert "• Jobcenter Wetterau:" not in partial
        status = await desk.ask("jobcenter", f"!fk status {case}")
        assert "Einwilligung heute: Jobcenter Wetterau, Jugendamt Wetterau" in status
        assert f"{request} {case} – Ausbildung, regulär, von Jobcenter Wetterau: " in status
        assert f"Für {request} fehlt:\n\n• Agentur für Arbeit: {NOT_NAMED}" in status
        assert "• Jobcenter Wetterau:" not in status
        assert "• Jugendamt Wetterau:" not in status

        # The consent that covers the Agentur makes the request ready.
        complete = await desk.ask("jugendamt", consent(case, "agentur", dok="EW-18"))
        assert f"📝 Einwilligung v2 für {case} erfasst: Agentur für Arbeit" in complete
        assert f"✅ Anfrage {request} ist jetzt bereit." in complete
        listed = await desk.ask("jobcenter", "!fk anfragen")
        assert f"{request} {case} – Ausbildung, regulär, von Jobcenter Wetterau: bereit" in listed
        assert "§ 8a" not in listed

        # Revoking the Jobcenter puts the request back to waiting, naming the reason.
        revoked = await desk.ask("jugendamt", f"!fk widerruf {case} jobcenter")
        assert f"🛑 Widerruf für {case} erfasst (Jobcenter Wetterau), gilt ab sofort." in revoked
        assert f"⏸️ Anfrage {request} wartet wieder auf Einwilligung:" in revoked
        assert "• Jobcenter Wetterau: widerrufen (Einwilligung v1)" in revoked
        assert "Agentur für Arbeit:" not in revoked
        assert "Jugendamt Wetterau:" not in revoked
        status = await desk.ask("jugendamt", f"!fk status {case}")
        assert "Einwilligung heute: Agentur für Arbeit, Jugendamt Wetterau" in status
        assert (
            f"Für {request} fehlt:\n\n• Jobcenter Wetterau: widerrufen (Einwilligung v1)" in status
        )
        listed = await desk.ask("jobcenter", "!fk anfragen")
        assert f"{request} {case} – Ausbildung, regulär, von Jobcenter Wetterau: " in listed
        assert listed.rstrip().endswith("wartet auf Einwilligung"), listed

        # Only the case's own institution records consent and revocations.
        foreign = await desk.ask("jobcenter", consent(case, "jobcenter", dok="EW-19"))
        assert foreign.startswith("⚠️ Einwilligungen erfasst nur eine Fachkraft")
        assert "(Jugendamt Wetterau)" in foreign
        status_after = await desk.ask("jugendamt", f"!fk status {case}")
        assert status_after == status, "a refused consent must change nothing"


async def test_schutzauftrag_needs_a_second_jugendamt_professional(
    people: People, tmp_path: Path
) -> None:
    async with agency_desk(
        people,
        tmp_path / "bot",
        {"jugendamt-a": "jugendamt", "jugendamt-b": "jugendamt", "jobcenter": "jobcenter"},
    ) as desk:
        case = one_pseudonym(await desk.ask("jugendamt-a", "!fk fall neu"))
        requested = await desk.ask(
            "jobcenter",
            f"!fk anfrage {case} thema=Kinderschutz dringlichkeit=dringend teilnehmer=jugendamt",
        )
        match = REQUEST_ID.search(requested)
        assert match, requested
        request = f"#{match.group(1)}"
        assert "wartet auf Einwilligung" in requested

        # Other institutions cannot open the § 8a path.
        refused = await desk.ask("jobcenter", f"!fk schutzauftrag {case} grund=kw-gefaehrdung")
        assert refused.startswith(
            "⚠️ Den Schutzauftrag nach § 8a SGB VIII führen nur Fachkräfte des Jugendamts."
        )
        assert "Schutzauftrag (§ 8a" not in await desk.ask("jugendamt-a", f"!fk status {case}")

        opened = await desk.ask("jugendamt-a", f"!fk schutzauftrag {case} grund=kw-gefaehrdung")
        assert opened.startswith(
            f"🛡️ Schutzauftrag (§ 8a SGB VIII) für {case} eröffnet, Grund kw-gefaehrdung."
        )
        assert f"`!fk schutzauftrag bestätigen {case}`" in opened
        # Opened, not yet in force: the request still waits, also when a new consent
        # makes the bot look at the case's requests again.
        partial = await desk.ask("jugendamt-a", consent(case, "jugendamt"))
        assert f"📝 Einwilligung v1 für {case} erfasst: Jugendamt Wetterau" in partial
        assert "bereit" not in partial
        listed = await desk.ask("jugendamt-a", "!fk anfragen")
        assert f"{request} {case} – Kinderschutz, dringend, von Jobcenter Wetterau: " in listed
        assert "wartet auf Einwilligung" in listed
        assert "§ 8a" not in listed

        own = await desk.ask("jugendamt-a", f"!fk schutzauftrag bestätigen {case}")
        assert own.startswith("⚠️ Vier-Augen-Prinzip:")
        assert "andere Fachkraft des Jugendamts" in own
        foreign = await desk.ask("jobcenter", f"!fk schutzauftrag bestätigen {case}")
        assert foreign.startswith(
            "⚠️ Den Schutzauftrag nach § 8a SGB VIII führen nur Fachkräfte des Jugendamts."
        )
        status = await desk.ask("jugendamt-b", f"!fk status {case}")
        assert "Schutzauftrag (§ 8a SGB VIII, Grund kw-gefaehrdung): offen" in status
        assert f"Für {request} fehlt:\n\n• Jobcenter Wetterau: {NOT_NAMED}" in status
        assert "• Jugendamt Wetterau:" not in status

        confirmed = await desk.ask("jugendamt-b", f"!fk schutzauftrag bestätigen {case}")
        assert confirmed.startswith(f"🛡️ Schutzauftrag für {case} bestätigt (§ 8a SGB VIII).")
        assert f"✅ Anfrage {request} ist jetzt bereit (Schutzauftrag § 8a)." in confirmed
        listed = await desk.ask("jobcenter", "!fk anfragen")
        assert (
            f"{request} {case} – Kinderschutz, dringend, von Jobcenter Wetterau: bereit · § 8a"
            in listed
        )
        again = await desk.ask("jugendamt-b", f"!fk schutzauftrag bestätigen {case}")
        assert again.startswith(f"⚠️ Für {case} wartet kein Schutzauftrag auf Bestätigung.")
        database = desk.bot.setup.workdir / "fkbot.sqlite3"
        ids = {name: person.user_id for name, person in desk.who.items()}

    # The audit trail: who opened and who confirmed, on which legal basis; refused
    # attempts left no entry.
    trail = query(
        database,
        "SELECT actor, action, detail FROM audit_entry WHERE pseudonym = ? ORDER BY seq",
        case,
    )
    actions = [(actor, action) for actor, action, _ in trail]
    assert [a for a in actions if a[1].startswith("schutzauftrag")] == [
        (ids["jugendamt-a"], "schutzauftrag_eroeffnet"),
        (ids["jugendamt-b"], "schutzauftrag_bestaetigt"),
    ]
    confirmed_detail = json.loads(
        next(d for _, action, d in trail if action == "schutzauftrag_bestaetigt")
    )
    assert confirmed_detail["rechtsgrundlage"] == "§ 8a SGB VIII"
    assert confirmed_detail["grund"] == "kw-gefaehrdung"
    ready = [json.loads(d) for _, action, d in trail if action == "anfrage_bereit"]
    assert [r["grundlage"] for r in ready] == ["§ 8a SGB VIII"]


PERSONAL_DATA = (
    "anna.schmidt@web.de",
    "0171 2345678",
    "DE89 3704 0044 0532 0130 00",
    "03.04.2011",
    "51.2-1234/2026",
)
# Pieces and compact spellings that must not survive either, in case a value is
# echoed in part or normalised. (Nothing as short as "DE89": random device ids and
# keys in the log contain such strings by chance.)
FRAGMENTS = (
    "anna.schmidt",
    "schmidt@web",
    "2345678",
    "01712345678",
    "DE89 3704",
    "DE89370400440532013000",
    "0532 0130",
    "03.04.2011",
    "1234/2026",
)


def leaks(texts: list[str]) -> list[str]:
    return [
        needle
        for needle in (*PERSONAL_DATA, *FRAGMENTS)
        if any(needle.casefold() in text.casefold() for text in texts)
    ]


def database_text(path: Path) -> list[str]:
    """Every text (and JSON) value in every table of the bot's SQLite database."""
    texts: list[str] = []
    tables = query(path, "SELECT name FROM sqlite_master WHERE type='table'")
    assert len(tables) > 5, tables
    for (table,) in tables:
        for row in query(path, f'SELECT * FROM "{table}"'):  # noqa: S608 - own schema
            texts += [v for v in row if isinstance(v, str)]
            texts += [v.decode("utf-8", "replace") for v in row if isinstance(v, bytes)]
    return texts


def files_bytes(root: Path) -> list[str]:
    """The raw bytes of every file the bot wrote (database, WAL, crypto store, config)."""
    return [
        p.read_bytes().decode("utf-8", "replace") for p in sorted(root.rglob("*")) if p.is_file()
    ]


async def test_personal_data_is_refused_and_stored_nowhere(
    people: People, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    async with agency_desk(people, tmp_path / "bot", {"jugendamt": "jugendamt"}) as desk:
        case = one_pseudonym(await desk.ask("jugendamt", "!fk fall neu"))
        attempts: list[tuple[str, str]] = [
            (
                consent(case, "jugendamt,jobcenter", dok="anna.schmidt@web.de"),
                "E-Mail-Adresse",
            ),
            (
                f"!fk anfrage {case} thema=Ausbildung dringlichkeit=regulär "
                "teilnehmer=jobcenter Mutter erreichbar unter 0171 2345678",
                "Telefonnummer",
            ),
            (
                consent(case, "jugendamt", dok="EW-17") + " IBAN DE89 3704 0044 0532 0130 00",
                "IBAN",
            ),
            ("!fk fall neu Kind geb. 03.04.2011", "Geburtsdatum"),
            (f"!fk status {case} Az. 51.2-1234/2026", "Aktenzeichen"),
            ("!fk status 51.2-1234/2026", "Aktenzeichen"),
            (f"!fk widerruf {case} anna.schmidt@web.de", "E-Mail-Adresse"),
        ]
        for command, kind in attempts:
            answer = await desk.ask("jugendamt", command)
            assert answer.startswith("⚠️ Die Eingabe sieht nach personenbezogenen Daten aus ("), (
                command,
                answer,
            )
            assert kind in answer.split(")")[0], (kind, answer)
            assert "wurde nicht gespeichert" in answer
            assert leaks([answer]) == [], (command, answer)

        # Nothing of it was stored: no consent, no request, no revocation, no second case.
        status = await desk.ask("jugendamt", f"!fk status {case}")
        assert "Einwilligung heute: keine Institution" in status
        assert "Keine Anfragen." in status
        assert "Offene Anfragen (0)" in await desk.ask("jugendamt", "!fk anfragen")

        sent = desk.bot_messages()
        bot_user = desk.bot.setup.user_id
        answers = [m for m in desk.who["jugendamt"].seen if m.sender == bot_user]
        workdir = desk.bot.setup.workdir
    assert len(answers) == len(attempts) + 3, "one answer per command, nothing else"
    # After the bot stopped: its files are complete and closed.
    database = database_text(workdir / "fkbot.sqlite3")
    raw_files = files_bytes(workdir)

    # The checks can see what they look for: the pseudonym is in each place.
    assert any(case in text for text in sent)
    assert any(case in text for text in database)
    assert any(case in text for text in raw_files)
    assert "Einladung" in caplog.text, "the bot's own log records must be captured"

    assert leaks(sent) == [], "personal data in a message the bot sent"
    assert leaks(database) == [], "personal data in the bot's database"
    assert leaks(raw_files) == [], "personal data in a file the bot wrote"
    assert leaks([caplog.text]) == [], "personal data in the log"


async def test_user_without_institution_is_refused_and_told_why(
    people: People, tmp_path: Path
) -> None:
    async with agency_desk(
        people, tmp_path / "bot", {"jugendamt": "jugendamt", "gast": None}
    ) as desk:
        case = one_pseudonym(await desk.ask("jugendamt", "!fk fall neu"))

        who = await desk.ask("gast", "!fk wer")
        assert who.startswith(desk.who["gast"].user_id)
        assert "Du bist keiner Institution zugeordnet und siehst deshalb keine Falldaten." in who
        assert "Institution:" not in who

        refusals: dict[str, Callable[[str], bool]] = {
            f"!fk status {case}": lambda body: case not in body and "fallführend" not in body,
            "!fk fall neu": lambda body: PSEUDONYM.search(body) is None,
            "!fk anfragen": lambda body: case not in body,
            f"!fk einwilligung zeigen {case}": lambda body: case not in body,
        }
        for command, shows_nothing in refusals.items():
            answer = await desk.ask("gast", command)
            assert answer.startswith("⚠️ Du bist keiner Institution zugeordnet;"), (command, answer)
            assert "Deine Zuordnung zeigt !fk wer." in answer
            assert shows_nothing(answer), (command, answer)

        # The guest's attempts changed nothing: still one case, no second one created.
        own = await desk.ask("jugendamt", f"!fk status {case}")
        assert f"Fall {case} – fallführend: Jugendamt Wetterau, offen" in own
        assert "Offene Anfragen (0)" in await desk.ask("jugendamt", "!fk anfragen")
        # The colleague from the Jugendamt is known, of course.
        assert "Institution: Jugendamt Wetterau (jugendamt)" in await desk.ask(
            "jugendamt", "!fk wer"
        )
        database = desk.bot.setup.workdir / "fkbot.sqlite3"
    assert query(database, "SELECT pseudonym FROM case_file") == [(case,)]
    actors = {actor for (actor,) in query(database, "SELECT actor FROM audit_entry")}
    assert desk.who["gast"].user_id not in actors, "a refused attempt must not be audited as done"
