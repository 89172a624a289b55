"""The room's language: ``sprache <de|en>`` (English name ``language``, commands/english.py)."""

from __future__ import annotations

from typing import Annotated

from commands.casework import audit
from commands.framework import CommandContext, Label, Role, Router, param_label
from commands.i18n import N_, languages, texts
from commands.reply import Reply
from domain.errors import BadArgument
from domain.text import Msg

router = Router("sprache")


@router.command(
    "sprache",
    summary=N_("Stellt die Sprache dieses Raums um (de, en)."),
    role=Role.MODERATION,
    case_data=False,
    params={"sprache": N_("Sprachkürzel: de oder en")},
    examples=("sprache en", "sprache de"),
)
def sprache(ctx: CommandContext, sprache: Annotated[str, Label("de|en")]) -> Reply:
    language = sprache.strip().lower()
    if language not in languages():
        raise BadArgument(
            param_label("sprache"),
            Msg(
                N_("diese Sprache gibt es nicht; verfügbar: %(languages)s"),
                languages=", ".join(languages()),
            ),
        )
    previous = ctx.t.language
    ctx.uow.sync.set_room_language(ctx.room_id, language, ctx.now)
    audit(ctx, "sprache", None, sprache=language, vorher=previous)
    # The confirmation is already in the room's new language.
    return Reply.text(texts(language).gettext("🌐 Dieser Raum spricht jetzt Deutsch."))
