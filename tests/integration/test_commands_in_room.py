"""The bot in an encrypted agency room: help, ping, bad input and access rules, as people see it."""

from __future__ import annotations

import asyncio
import logging
from typing import Annotated

import pytest
from sqlalchemy import select

from bot.testing.botrun import BotSetup, InProcessBot
from bot.testing.inroom import AgencyRoom, People, open_room
from commands.core import build_registry
from commands.framework import REST, CommandContext, CommandRegistry, ReactionContext
from commands.reply import Reply
from storage.models import InboxEvent, OutboxMessage

pytestmark = pytest.mark.synapse


def registry_with_test_commands() -> CommandRegistry:
    """The real commands plus three that exercise the framework's paths."""
    registry = build_registry()

    @registry.command("zahl", summary="Testbefehl mit Pflichtangabe.", case_data=False)
    def zahl(ctx: CommandContext, anzahl: int, *, modus: str | None = None) -> Reply:
        return Reply.text(f"Zahl {anzahl}, Modus {modus}")

    @registry.command("geheim", summary="Testbefehl mit Falldaten.")
    def geheim(ctx: CommandContext, text: Annotated[str, REST]) -> Reply:
        return Reply.text("Falldaten")

    @registry.command("kaputt", summary="Testbefehl, der schreibt und dann abstürzt.")
    def kaputt(ctx: CommandContext) -> Reply:
        ctx.uow.outbox.add(
            txn_id="must-not-survive",
            room_id=ctx.room_id,
            event_type="m.room.message",
            content={"body": "x"},
            requires_encryption=True,
            now=ctx.now,
        )
        raise RuntimeError("Fehler im Handler")

    @registry.reaction("✅")
    def bestaetigt(ctx: ReactionContext) -> Reply | None:
        return Reply.text(f"Reaktion {ctx.key} auf {ctx.relates_to} erhalten")

    return registry


@pytest.fixture
async def test_room(people: People, bot_setup: BotSetup) -> AgencyRoom:
    bot = InProcessBot(bot_setup, registry=registry_with_test_commands())
    await bot.start()
    try:
        room = await open_room(people, bot)
        yield room  # type: ignore[misc]
    finally:
        await bot.stop()


async def ask(room: AgencyRoom, text: str) -> str:
    event_id = await room.caseworker.send(room.room_id, text)
    reply = await room.caseworker.wait_reply(event_id)
    return reply.body


async def test_ping_gets_one_encrypted_reply(agency_room: AgencyRoom) -> None:
    cw = agency_room.caseworker
    command = await cw.send(agency_room.room_id, "!fk ping")
    reply = await cw.wait_reply(command)
    assert reply.sender == agency_room.bot.setup.user_id
    assert reply.body == "pong 🏓"
    assert reply.decrypted, "the reply in an encrypted room must be encrypted"
    assert reply.raw["content"]["m.relates_to"]["m.in_reply_to"]["event_id"] == command
    assert reply.msgtype == "m.notice"
    assert reply.html == "<p>pong 🏓</p>"


async def test_help_is_generated_from_the_declarations(test_room: AgencyRoom) -> None:
    overview = await ask(test_room, "!fk hilfe")
    for name in ("hilfe", "ping", "zahl", "geheim", "kaputt"):
        assert f"!fk {name}" in overview
    detail = await ask(test_room, "!fk hilfe zahl")
    assert "!fk zahl <anzahl> [modus=<text>]" in detail
    assert "Testbefehl mit Pflichtangabe." in detail
    assert "pong" not in detail


async def test_arguments_are_converted_and_checked(test_room: AgencyRoom) -> None:
    assert await ask(test_room, "!fk zahl 7 modus=schnell") == "Zahl 7, Modus schnell"
    missing = await ask(test_room, "!fk zahl")
    assert "Es fehlt die Angabe <anzahl>" in missing
    assert "Aufruf: `!fk zahl <anzahl> [modus=<text>]`" in missing
    bad = await ask(test_room, "!fk zahl sieben")
    assert "Ungültige Angabe für <anzahl>: keine ganze Zahl" in bad
    extra = await ask(test_room, "!fk ping noch was")
    assert "Zu viele Angaben" in extra
    option = await ask(test_room, "!fk zahl 3 farbe=rot")
    assert "Unbekannte Option. Erlaubt: modus=" in option
    assert "farbe" not in option


async def test_unknown_command_suggests_and_never_echoes_personal_data(
    test_room: AgencyRoom,
) -> None:
    typo = await ask(test_room, "!fk pnig")
    assert typo == "⚠️ Unbekannter Befehl. Meintest du: !fk ping? Alle Befehle: !fk hilfe"
    for personal in ("max.mustermann@example.org", "Mustermann", "0170 1234567"):
        answer = await ask(test_room, f"!fk {personal}")
        assert answer.startswith("⚠️ Unbekannter Befehl.")
        assert personal.split()[0] not in answer


async def test_overlong_control_and_bidi_input_is_refused(test_room: AgencyRoom) -> None:
    long = await ask(test_room, "!fk ping " + "x" * 10_000)
    assert "zu lang (10009 Zeichen, höchstens 4000)" in long
    # bidi marks are dropped before reading (a client may put them anywhere); an
    # invisible zero-width space inside a word is refused and named
    bidi = await ask(test_room, "!fk \u202eping")
    assert "pong" in bidi.casefold(), bidi
    invisible = await ask(test_room, "!fk ping\u200bx")
    assert "U+200B" in invisible
    control = await ask(test_room, "!fk zahl 1\x07")
    assert "U+0007" in control
    assert "Zahl" not in control


async def test_html_in_input_is_escaped_in_the_reply(test_room: AgencyRoom) -> None:
    cw = test_room.caseworker
    event_id = await cw.send(test_room.room_id, "!fk zahl 1 modus=<b>fett</b>")
    reply = await cw.wait_reply(event_id)
    assert reply.body == "Zahl 1, Modus <b>fett</b>"
    assert reply.html is not None
    assert "<b>fett</b>" not in reply.html
    assert "&lt;b&gt;fett&lt;/b&gt;" in reply.html


async def test_internal_error_shows_only_a_reference_and_changes_nothing(
    test_room: AgencyRoom, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.ERROR, logger="bot.bugs")
    body = await ask(test_room, "!fk kaputt")
    assert body.startswith("❌ Interner Fehler (Ref `")
    assert "RuntimeError" not in body
    assert "Traceback" not in body
    ref = body.split("`")[1]
    assert any(ref in r.getMessage() for r in caplog.records)
    db = test_room.bot.app
    assert db is not None
    settings = test_room.bot.setup.settings()
    from storage.db import make_engine

    engine = make_engine(settings.database.url)
    with engine.connect() as conn:
        txns = conn.execute(select(OutboxMessage.txn_id)).scalars().all()
        outcome = conn.execute(
            select(InboxEvent.outcome, InboxEvent.error_ref).where(InboxEvent.command == "kaputt")
        ).all()
    engine.dispose()
    assert "must-not-survive" not in txns
    assert ("internal_error", ref) in outcome


async def test_case_data_is_refused_in_an_unencrypted_room(
    people: People, bot_setup: BotSetup
) -> None:
    bot = InProcessBot(bot_setup, registry=registry_with_test_commands())
    await bot.start()
    try:
        room = await open_room(people, bot, encrypted=False)
        assert await ask(room, "!fk ping") == "pong 🏓"
        refused = await ask(room, "!fk geheim irgendwas")
        assert "nicht verschlüsselt" in refused
        assert "Falldaten" not in refused.replace("Falldaten gibt es nur", "")
    finally:
        await bot.stop()


async def test_invite_from_a_server_not_on_the_allow_list_is_declined(
    people: People, synapse_server: object, tmp_path: object
) -> None:
    from bot.testing.botrun import prepare_bot

    setup = prepare_bot(
        people.server, people.workdir / "strict-bot", allowed_homeservers=["jugendamt.example"]
    )
    bot = InProcessBot(setup)
    await bot.start()
    try:
        stranger = await people.person("fremd")
        room_id = await stranger.create_encrypted_room("Fremder Raum", [setup.user_id])

        def declined() -> bool:
            room = stranger.client.rooms.get(room_id)
            return (
                bool(room)
                and setup.user_id not in room.users
                and (setup.user_id not in room.invited_users)
            )

        await stranger.wait_until(declined, 30)
        await asyncio.sleep(1)
        assert setup.user_id not in stranger.client.rooms[room_id].users
    finally:
        await bot.stop()


async def test_unencrypted_reaction_in_encrypted_room_reaches_its_handler(
    test_room: AgencyRoom,
) -> None:
    cw = test_room.caseworker
    command = await cw.send(test_room.room_id, "!fk ping")
    reply = await cw.wait_reply(command)
    await cw.react(test_room.room_id, reply.event_id, "👍")  # no handler: ignored
    reaction = await cw.react(test_room.room_id, reply.event_id, "✅")
    answer = await cw.wait_reply(reply.event_id)
    assert answer.body == f"Reaktion ✅ auf {reply.event_id} erhalten"
    assert answer.decrypted
    raw = await cw.client.room_get_event(test_room.room_id, reaction)
    assert raw.event.source["type"] == "m.reaction", "the reaction itself travels unencrypted"
    await asyncio.sleep(1)
    assert len(cw.replies_to(reply.event_id)) == 1
