"""``fkbot rooms``: the rooms the bot knows, and the audited ways a circle changes room."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bot.cli.common import CLI_ACTOR
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

    if args.config is None:
        print("fkbot rooms: --config fehlt", file=sys.stderr)
        return 2
    db = open_db(args)
    try:
        with db.uow() as uow:
            rooms = summaries(uow.session, datetime.now(UTC))
    finally:
        db.engine.dispose()
    if not rooms:
        print("Der Bot kennt noch keinen Raum.")
        return 0
    for room in rooms:
        if room.room_id is None:
            print(
                f"(ohne Raum, getrennt gehalten): {room.open_cases} offene, "
                f"{room.closed_cases} erledigte Fälle – zuordnen mit `fkbot rooms assign`"
            )
            continue
        status = "Mitglied" if room.member else f"verlassen seit {_when(room.left_at)}"
        kind = ", Direktchat" if room.direct else ""
        print(
            f"{room.room_id}: {status}{kind}; {room.open_cases} offene, {room.closed_cases} "
            f"erledigte Fälle, {room.upcoming_sessions} kommende Termine"
        )
    return 0


def cmd_rooms_assign(args: argparse.Namespace, open_db: DatabaseOpener) -> int:
    from domain.errors import UserError
    from domain.pseudonym import Pseudonym
    from storage.rooms import RoomError, assign

    try:
        pseudonym = str(Pseudonym.convert(args.pseudonym))
    except UserError as err:
        print(err.message, file=sys.stderr)
        return 2
    db = open_db(args)
    try:
        with db.uow() as uow:
            try:
                assign(uow.session, pseudonym, args.room)
            except RoomError as err:
                print(str(err), file=sys.stderr)
                return 2
            _audit(uow, "fall_raum_zugeordnet", args.room, pseudonym=pseudonym)
    finally:
        db.engine.dispose()
    print(f"{pseudonym} gehört jetzt zu {args.room}.")
    return 0


def cmd_rooms_move(args: argparse.Namespace, open_db: DatabaseOpener) -> int:
    from storage.rooms import RoomError, move

    db = open_db(args)
    try:
        with db.uow() as uow:
            try:
                moved = move(uow.session, args.source, args.target)
            except RoomError as err:
                print(str(err), file=sys.stderr)
                return 2
            detail = {"von": args.source, "nach": args.target, "zeilen": moved}
            _audit(uow, "raum_umgezogen", args.target, detail=detail)
    finally:
        db.engine.dispose()
    rows = ", ".join(f"{table} {count}" for table, count in moved.items() if count)
    print(f"Konferenzkreis von {args.source} nach {args.target} umgezogen: {rows}")
    return 0


def add_parser(
    sub: argparse._SubParsersAction[argparse.ArgumentParser], open_db: DatabaseOpener
) -> None:
    rooms = sub.add_parser("rooms", help="Räume des Bots: Fälle, Mitgliedschaft, Umzug")
    rooms.add_argument("--config", type=Path, help="Konfigurationsdatei (für die Liste)")
    rooms.set_defaults(func=lambda args: cmd_rooms(args, open_db))
    rooms_sub = rooms.add_subparsers(dest="rooms_command")
    assign = rooms_sub.add_parser(
        "assign", help="einen getrennt gehaltenen Fall (ohne Raum) einem Raum zuordnen"
    )
    assign.add_argument("pseudonym")
    assign.add_argument("room", help="Raum-ID, z. B. !abc:kreis.example")
    assign.add_argument("--config", type=Path, required=True)
    assign.set_defaults(func=lambda args: cmd_rooms_assign(args, open_db))
    move = rooms_sub.add_parser(
        "move", help="einen ganzen Konferenzkreis in einen neuen Raum umziehen (auditiert)"
    )
    move.add_argument("--from", dest="source", required=True, help="bisheriger Raum")
    move.add_argument("--to", dest="target", required=True, help="neuer Raum")
    move.add_argument("--config", type=Path, required=True)
    move.set_defaults(func=lambda args: cmd_rooms_move(args, open_db))
