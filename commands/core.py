"""The bot-core commands: help generated from the declarations, and a liveness check."""

from __future__ import annotations

from typing import Annotated

from commands import (
    agenda,
    cases,
    outcomes,
    overview,
    people,
    protokoll,
    sessions,
    sitting,
    sprache,
    umfrage,
)
from commands.english import ENGLISH_NAMES
from commands.framework import (
    REST,
    CommandContext,
    CommandRegistry,
    Router,
    command_line,
    command_word,
    role_name,
)
from commands.i18n import N_
from commands.reply import Doc, Part, Reply, b, code


def _own(text: str, ctx: CommandContext) -> str:
    """A declared text in the room's language (declared texts are msgids, marked with
    ``N_``), with the room's command prefix where it says ``{prefix}``."""
    return ctx.t.gettext(text).replace("{prefix}", ctx.prefix)


router = Router("core")


@router.command(
    "hilfe",
    aliases=("?",),
    summary=N_("Zeigt alle Befehle oder die Hilfe zu einem Befehl."),
    case_data=False,
    params={"befehl": N_("Name eines Befehls, z. B. ping")},
    examples=("hilfe", "hilfe ping", "hilfe fall neu"),
)
def hilfe(ctx: CommandContext, befehl: Annotated[str | None, REST] = None) -> Reply:
    """In a room that does not speak German every command word, option, placeholder and
    example is shown in English (commands/english.py): what the room reads it can type."""
    t = ctx.t
    if befehl is None:
        doc = Doc().para(b(t.gettext("Befehle des Fallkonferenz-Bots")))
        doc.items(
            [
                (code(spec.usage(ctx.prefix, t)), " — ", _own(spec.summary, ctx))
                + (
                    (t.gettext(" (Rolle: %(role)s)", role=role_name(spec.role, t)),)
                    if spec.role
                    else ()
                )
                for spec in sorted(ctx.registry, key=lambda s: command_word(s.name, t))
            ]
        )
        doc.para(
            t.gettext("Details zu einem Befehl: "),
            code(t.gettext("%(prefix)s hilfe <befehl>", prefix=ctx.prefix)),
        )
        return doc.build()
    spec = ctx.registry.lookup(" ".join(befehl.split()[:2])) or ctx.registry.lookup(
        befehl.split()[0]
    )
    if spec is None:
        raise ctx.registry.unknown(befehl, ctx.prefix)
    name = command_word(spec.name, t)
    doc = Doc().para(b(f"{ctx.prefix} {name}"), " — ", _own(spec.summary, ctx))
    doc.para(t.gettext("Aufruf: "), code(spec.usage(ctx.prefix, t)))
    described = [p for p in spec.params if p.description]
    if described:
        doc.items([(code(p.shown_name(t)), ": ", _own(p.description, ctx)) for p in described])
    if spec.details:
        doc.para(_own(spec.details, ctx))
    # The other words for it (German in an English room, English in a German one), shown
    # as what one types.
    others = [w for w in (spec.name, *spec.aliases) if w != name]
    if others:
        listed: list[Part] = [t.gettext("Andere Namen: ")]
        for index, word in enumerate(others):
            listed += [", "] if index else []
            listed.append(code(word))
        doc.para(*listed)
    if spec.role:
        doc.para(t.gettext("Rolle: "), role_name(spec.role, t))
    if spec.examples:
        doc.para(t.gettext("Beispiele:"))
        doc.items([(code(f"{ctx.prefix} {command_line(t.gettext(e), t)}"),) for e in spec.examples])
    return doc.build()


@router.command(
    "ping",
    summary=N_("Prüft, ob der Bot da ist und antwortet."),
    case_data=False,
)
def ping(ctx: CommandContext) -> Reply:
    return Reply.text(ctx.t.gettext("pong 🏓"))


def build_registry() -> CommandRegistry:
    registry = CommandRegistry()
    for module_router in (
        router,
        people.router,
        cases.router,
        sessions.router,
        agenda.router,
        umfrage.router,
        sitting.router,
        outcomes.router,
        protokoll.router,
        overview.router,
        sprache.router,
    ):
        registry.include(module_router)
    for name, english in ENGLISH_NAMES.items():
        registry.alias(name, english)
    return registry
