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
from commands.framework import REST, CommandContext, CommandRegistry, Router
from commands.i18n import N_
from commands.reply import Doc, Reply, b, code
from domain.errors import UnknownCommand


def _own(text: str, ctx: CommandContext) -> str:
    """A declared text in the room's language (declared texts are msgids, marked with
    ``N_``), with the room's command prefix where it says ``{prefix}``."""
    return ctx.t.gettext(text).replace("{prefix}", ctx.prefix)


router = Router("core")


@router.command(
    "hilfe",
    aliases=("help", "?"),
    summary=N_("Zeigt alle Befehle oder die Hilfe zu einem Befehl."),
    case_data=False,
    params={"befehl": N_("Name eines Befehls, z. B. ping")},
    examples=("hilfe", "hilfe ping", "hilfe fall neu"),
)
def hilfe(ctx: CommandContext, befehl: Annotated[str | None, REST] = None) -> Reply:
    t = ctx.t
    if befehl is None:
        doc = Doc().para(b(t.gettext("Befehle des Fallkonferenz-Bots")))
        doc.items(
            [
                (code(spec.usage(ctx.prefix)), " — ", _own(spec.summary, ctx))
                + ((t.gettext(" (Rolle: %(role)s)", role=spec.role.value),) if spec.role else ())
                for spec in ctx.registry
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
        raise UnknownCommand(ctx.registry.suggest(befehl), ctx.prefix)
    doc = Doc().para(b(f"{ctx.prefix} {spec.name}"), " — ", _own(spec.summary, ctx))
    doc.para(t.gettext("Aufruf: "), code(spec.usage(ctx.prefix)))
    described = [p for p in spec.params if p.description]
    if described:
        doc.items([(code(p.name), ": ", _own(p.description, ctx)) for p in described])
    if spec.details:
        doc.para(_own(spec.details, ctx))
    if spec.aliases:
        doc.para(t.gettext("Andere Namen: "), ", ".join(spec.aliases))
    if spec.role:
        doc.para(t.gettext("Rolle: "), spec.role.value)
    if spec.examples:
        doc.para(t.gettext("Beispiele:"))
        doc.items([(code(f"{ctx.prefix} {e}"),) for e in spec.examples])
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
