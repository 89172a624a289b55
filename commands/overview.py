"""Übersicht (overview) for moderation: next sessions, waiting requests, overdue, open minutes."""

from __future__ import annotations

from commands.casework import RequestState
from commands.framework import CommandContext, Router
from commands.i18n import N_, Texts
from commands.reply import Doc, Reply, b, fill, holes
from commands.sessions import when_text
from domain.dates import local_date
from domain.org import Role
from storage.uow import UnitOfWork

OVERVIEW_ITEMS = 20  # per list in `übersicht`: the reply stays short whatever the backlog

router = Router("overview")


@router.command(
    "übersicht",
    aliases=("uebersicht",),
    summary=N_("Überblick für die Moderation: Termine, wartende Anfragen, Überfälliges."),
    role=Role.MODERATION,
    examples=("übersicht",),
)
def uebersicht(ctx: CommandContext) -> Reply:
    uow, today, t = ctx.uow, local_date(ctx.now), ctx.t
    heading = t.gettext(
        "📊 %(title)s – Stand %(when)s", when=when_text(ctx.now, t), **holes("title")
    )
    doc = Doc().para(*fill(heading, title=b(t.gettext("Übersicht"))))
    upcoming = [s for s in uow.sessions.upcoming(ctx.now, limit=5)]
    taken = uow.sessions.taken([s.id for s in upcoming])
    doc.para(b(t.gettext("Nächste Termine")))
    doc.items(
        [
            (
                t.ngettext(
                    "#%(id)s %(when)s %(name)s: %(taken)s/%(count)d Fall, %(agenda)s",
                    "#%(id)s %(when)s %(name)s: %(taken)s/%(count)d Fälle, %(agenda)s",
                    s.capacity,
                    id=s.id,
                    when=when_text(s.starts_at, t),
                    name=s.name,
                    taken=taken.get(s.id, 0),
                    agenda=_agenda_state(uow, s.id, t),
                ),
            )
            for s in upcoming
        ]
        or [(t.gettext("keine"),)]
    )
    waiting_count = uow.cases.count_open_requests(RequestState.WAITING)
    waiting = uow.cases.open_requests(state=RequestState.WAITING, limit=10)
    doc.para(
        b(t.gettext("Anfragen ohne ausreichende Einwilligung: %(count)s", count=waiting_count))
    )
    doc.items([(f"#{r.id} {r.case_pseudonym} – {r.topic}",) for r in waiting])
    if waiting_count > len(waiting):
        doc.para(t.gettext("… alle: %(prefix)s anfragen status=wartet", prefix=ctx.prefix))
    reviews = uow.outcomes.overdue_reviews()
    tasks = uow.outcomes.overdue_tasks(today)
    doc.para(
        b(
            t.gettext(
                "Überfällig: %(reviews)s, %(tasks)s",
                reviews=t.ngettext(
                    "%(count)d Wiedervorlage", "%(count)d Wiedervorlagen", len(reviews)
                ),
                tasks=t.ngettext("%(count)d Aufgabe", "%(count)d Aufgaben", len(tasks)),
            )
        )
    )
    overdue = [
        (t.gettext("Wiedervorlage %(case)s seit %(day)s", case=r.case_pseudonym, day=t.day(r.due)),)
        for r in reviews
    ] + [
        (
            t.gettext(
                "Aufgabe %(case)s: %(owner)s, fällig %(day)s",
                case=task.case_pseudonym,
                owner=task.owner,
                day=t.day(task.due),
            ),
        )
        for task in tasks
        if task.due is not None
    ]
    doc.items(overdue[:OVERVIEW_ITEMS])
    if len(overdue) > OVERVIEW_ITEMS:
        more = len(overdue) - OVERVIEW_ITEMS
        doc.para(t.ngettext("… und %(count)d weitere.", "… und %(count)d weitere.", more))
    minutes = uow.outcomes.unconfirmed_minutes()
    doc.para(b(t.gettext("Unbestätigte Protokolle: %(count)s", count=len(minutes))))
    doc.items([(t.gettext("Termin #%(id)s", id=m.session_id),) for m in minutes[:OVERVIEW_ITEMS]])
    return doc.build()


def _agenda_state(uow: UnitOfWork, session_id: int, t: Texts) -> str:
    agenda = uow.agendas.get(session_id)
    if agenda is not None and agenda.confirmed:
        return t.gettext("Tagesordnung bestätigt")
    if agenda is not None and agenda.post_txn_id is not None:
        return t.gettext("Tagesordnung gesendet, unbestätigt")
    return t.gettext("Tagesordnung Entwurf")
