"""The room's language: ``sprache <de|en>`` (English alias ``language``)."""

from __future__ import annotations

from typing import Annotated

from commands.casework import audit
from commands.framework import CommandContext, Label, Role, Router
from commands.i18n import N_, languages, texts
from commands.reply import Reply
from domain.errors import BadArgument

router = Router("sprache")


@router.command(
    "sprache",
    aliases=("language",),
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
            "sprache",
            ctx.t.gettext(
                "diese Sprache gibt es nicht; verfügbar: %(languages)s",
                languages=", ".join(languages()),
            ),
        )
    previous = ctx.t.language
    ctx.uow.sync.set_room_language(ctx.room_id, language, ctx.now)
    audit(ctx, "sprache", None, sprache=language, vorher=previous)
    # The confirmation is already in the room's new language.
    return Reply.text(texts(language).gettext("🌐 Dieser Raum spricht jetzt Deutsch."))
