"""``fkbot rooms``: the rooms the bot knows, and the audited ways a circle changes room."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bot.cli.common import CLI_ACTOR, cli_texts
from commands.i18n import Texts
from storage.uow import Database, UnitOfWork

DatabaseOpener = Callable[[argparse.Namespace], Database]


def _when(moment: datetime | None) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC") if moment else "–"


def _audit(uow: UnitOfWork, action: str, room_id: str, **fields: Any) -> None:
    """Record the operator's change and commit it together with the change."""
    uow.audit.append(
        at=datetime.now(UTC),
        actor=CLI_ACTOR,
        institution=None,
        action=action,
        room_id=room_id,
        **fields,
    )
    uow.commit()


def cmd_rooms(args: argparse.Namespace, open_db: DatabaseOpener) -> int:
    from storage.rooms import summaries

    t = cli_texts()
    if args.config is None:
        print(t.gettext("fkbot rooms: --config fehlt"), file=sys.stderr)
        return 2
    db = open_db(args)
    try:
        with db.uow() as uow:
            rooms = summaries(uow.session, datetime.now(UTC))
    finally:
        db.engine.dispose()
    if not rooms:
        print(t.gettext("Der Bot kennt noch keinen Raum."))
        return 0
    for room in rooms:
        cases = _cases(t, room.open_cases, room.closed_cases)
        if room.room_id is None:
            print(
                t.gettext(
                    "(ohne Raum, getrennt gehalten): %(cases)s – zuordnen mit `fkbot rooms assign`",
                    cases=cases,
                )
            )
            continue
        if room.member:
            status = t.gettext("Mitglied")
        else:
            status = t.gettext("verlassen seit %(when)s", when=_when(room.left_at))
        if room.direct:
            status = t.gettext("%(status)s, Direktchat", status=status)
        sessions = t.ngettext(
            "%(count)d kommender Termin", "%(count)d kommende Termine", room.upcoming_sessions
        )
        print(f"{room.room_id}: {status}; {cases}, {sessions}")
    return 0


def _cases(t: Texts, open_cases: int, closed_cases: int) -> str:
    """``2 offene, 1 erledigte Fälle``: the noun agrees with the last number."""
    return t.ngettext(
        "%(open)d offene, %(count)d erledigter Fall",
        "%(open)d offene, %(count)d erledigte Fälle",
        closed_cases,
        open=open_cases,
    )


def cmd_rooms_assign(args: argparse.Namespace, open_db: DatabaseOpener) -> int:
    from domain.errors import UserError
    from domain.pseudonym import Pseudonym
    from storage.rooms import RoomError, assign

    t = cli_texts()
    try:
        pseudonym = str(Pseudonym.convert(args.pseudonym))
    except UserError as err:
        print(err.render(t), file=sys.stderr)
        return 2
    db = open_db(args)
    try:
        with db.uow() as uow:
            try:
                assign(uow.session, pseudonym, args.room)
            except RoomError as err:
                print(err.render(t), file=sys.stderr)
                return 2
            _audit(uow, "fall_raum_zugeordnet", args.room, pseudonym=pseudonym)
    finally:
        db.engine.dispose()
    print(t.gettext("%(pseudonym)s gehört jetzt zu %(room)s.", pseudonym=pseudonym, room=args.room))
    return 0


def cmd_rooms_move(args: argparse.Namespace, open_db: DatabaseOpener) -> int:
    from storage.rooms import RoomError, move

    t = cli_texts()
    db = open_db(args)
    try:
        with db.uow() as uow:
            try:
                moved = move(uow.session, args.source, args.target)
            except RoomError as err:
                print(err.render(t), file=sys.stderr)
                return 2
            detail = {"von": args.source, "nach": args.target, "zeilen": moved}
            _audit(uow, "raum_umgezogen", args.target, detail=detail)
    finally:
        db.engine.dispose()
    rows = ", ".join(f"{table} {count}" for table, count in moved.items() if count)
    print(
        t.gettext(
            "Konferenzkreis von %(source)s nach %(target)s umgezogen: %(rows)s",
            source=args.source,
            target=args.target,
            rows=rows,
        )
    )
    return 0


def add_parser(
    sub: argparse._SubParsersAction[argparse.ArgumentParser], open_db: DatabaseOpener
) -> None:
    t = cli_texts()
    rooms = sub.add_parser("rooms", help=t.gettext("Räume des Bots: Fälle, Mitgliedschaft, Umzug"))
    rooms.add_argument("--config", type=Path, help=t.gettext("Konfigurationsdatei (für die Liste)"))
    rooms.set_defaults(func=lambda args: cmd_rooms(args, open_db))
    rooms_sub = rooms.add_subparsers(dest="rooms_command")
    assign = rooms_sub.add_parser(
        "assign", help=t.gettext("einen getrennt gehaltenen Fall (ohne Raum) einem Raum zuordnen")
    )
    assign.add_argument("pseudonym")
    assign.add_argument("room", help=t.gettext("Raum-ID, z. B. !abc:kreis.example"))
    assign.add_argument("--config", type=Path, required=True)
    assign.set_defaults(func=lambda args: cmd_rooms_assign(args, open_db))
    move = rooms_sub.add_parser(
        "move",
        help=t.gettext("einen ganzen Konferenzkreis in einen neuen Raum umziehen (auditiert)"),
    )
    move.add_argument("--from", dest="source", required=True, help=t.gettext("bisheriger Raum"))
    move.add_argument("--to", dest="target", required=True, help=t.gettext("neuer Raum"))
    move.add_argument("--config", type=Path, required=True)
    move.set_defaults(func=lambda args: cmd_rooms_move(args, open_db))
