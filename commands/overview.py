"""Übersicht (overview) for moderation: next sessions, waiting requests, overdue, open minutes."""

from __future__ import annotations

from commands.casework import RequestState
from commands.framework import CommandContext, Router
from commands.reply import Doc, Reply, b
from commands.sessions import when_text
from domain.dates import format_date, local_date
from domain.org import Role
from storage.uow import UnitOfWork

OVERVIEW_ITEMS = 20  # per list in `übersicht`: the reply stays short whatever the backlog

router = Router("overview")


@router.command(
    "übersicht",
    aliases=("uebersicht",),
    summary="Überblick für die Moderation: Termine, wartende Anfragen, Überfälliges.",
    role=Role.MODERATION,
    examples=("übersicht",),
)
def uebersicht(ctx: CommandContext) -> Reply:
    uow, today = ctx.uow, local_date(ctx.now)
    doc = Doc().para("📊 ", b("Übersicht"), f" – Stand {when_text(ctx.now)}")
    upcoming = [s for s in uow.sessions.upcoming(ctx.now, limit=5)]
    taken = uow.sessions.taken([s.id for s in upcoming])
    doc.para(b("Nächste Termine"))
    doc.items(
        [
            (
                f"#{s.id} {when_text(s.starts_at)} {s.name}: {taken.get(s.id, 0)}/"
                f"{s.capacity} Fälle, Tagesordnung " + _agenda_state(uow, s.id),
            )
            for s in upcoming
        ]
        or [("keine",)]
    )
    waiting_count = uow.cases.count_open_requests(RequestState.WAITING)
    waiting = uow.cases.open_requests(state=RequestState.WAITING, limit=10)
    doc.para(b(f"Anfragen ohne ausreichende Einwilligung: {waiting_count}"))
    doc.items([(f"#{r.id} {r.case_pseudonym} – {r.topic}",) for r in waiting])
    if waiting_count > len(waiting):
        doc.para(f"… alle: {ctx.prefix} anfragen status=wartet")
    reviews = uow.outcomes.overdue_reviews()
    tasks = uow.outcomes.overdue_tasks(today)
    doc.para(b(f"Überfällig: {len(reviews)} Wiedervorlage(n), {len(tasks)} Aufgabe(n)"))
    overdue = [
        (f"Wiedervorlage {r.case_pseudonym} seit {format_date(r.due)}",) for r in reviews
    ] + [
        (f"Aufgabe {t.case_pseudonym}: {t.owner}, fällig {format_date(t.due)}",)
        for t in tasks
        if t.due is not None
    ]
    doc.items(overdue[:OVERVIEW_ITEMS])
    if len(overdue) > OVERVIEW_ITEMS:
        doc.para(f"… und {len(overdue) - OVERVIEW_ITEMS} weitere.")
    minutes = uow.outcomes.unconfirmed_minutes()
    doc.para(b(f"Unbestätigte Protokolle: {len(minutes)}"))
    doc.items([(f"Termin #{m.session_id}",) for m in minutes[:OVERVIEW_ITEMS]])
    return doc.build()


def _agenda_state(uow: UnitOfWork, session_id: int) -> str:
    agenda = uow.agendas.get(session_id)
    if agenda is not None and agenda.confirmed:
        return "bestätigt"
    if agenda is not None and agenda.post_txn_id is not None:
        return "gesendet, unbestätigt"
    return "Entwurf"
