"""``fkbot export protokoll``: the Protokoll (minutes) of a held session as files."""

from __future__ import annotations

import argparse
import os
import sys
from datetime import UTC, datetime

from bot.cli.common import CLI_ACTOR, cli_texts, load_settings, open_database, schema_outdated


def cmd_export_minutes(args: argparse.Namespace) -> int:
    """``fkbot export protokoll``: the minutes of a held session as Markdown, PDF and JSON."""
    from commands.export import file_name, to_json, to_markdown, to_pdf
    from commands.i18n import texts
    from commands.protokoll import collect

    t = cli_texts()
    settings = load_settings(args.config)
    db = open_database(args, migrate=False)
    try:
        if schema_outdated(db):
            return 2
        with db.uow() as uow:
            if args.room is not None:
                uow.in_room(args.room)  # a session of another room reads as unknown
            sitting = uow.outcomes.sitting(args.termin)
            session = uow.sessions.get(args.termin)
            if sitting is None or session is None or sitting.closed_at is None:
                print(
                    t.gettext(
                        "Zu Termin #%(id)s gibt es kein Protokoll (Sitzung nicht beendet "
                        "oder unbekannt).",
                        id=args.termin,
                    ),
                    file=sys.stderr,
                )
                return 2
            minutes = collect(uow, settings.agency.organisation(), session, sitting)
            # The files speak the room's language, as the minutes in the room do.
            room = texts(uow.sync.room_language(session.room_id) or settings.bot.language)
            renderings = {
                "md": to_markdown(minutes, room).encode(),
                "pdf": to_pdf(minutes, room),
                "json": to_json(minutes, room).encode(),
            }
            wanted = list(renderings) if args.format == "alle" else [args.format]
            os.umask(0o077)  # minutes name staff and pseudonyms: the bot's user only
            args.out.mkdir(parents=True, exist_ok=True)
            written = []
            for ext in wanted:
                target = args.out / file_name(minutes, ext, room)
                try:
                    with target.open("xb") as handle:
                        handle.write(renderings[ext])
                except FileExistsError:
                    print(
                        t.gettext("%(path)s existiert bereits; nicht überschrieben.", path=target),
                        file=sys.stderr,
                    )
                    return 2
                written.append(target)
            uow.audit.append(
                at=datetime.now(UTC),
                actor=CLI_ACTOR,
                institution=None,
                action="protokoll_exportiert",
                detail={"termin": args.termin, "formate": wanted},
                room_id=session.room_id,
            )
            uow.commit()
    finally:
        db.engine.dispose()
    for target in written:
        print(target)
    return 0
