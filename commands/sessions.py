"""Sessions (Termine), series (Reihen), placement of ready requests and the draft agenda.

PRODUCT.md steps 6–7. A series is stored as an RRULE in Berlin wall-clock time;
its occurrences are materialised as sessions up to ``calendar.horizon_days`` ahead,
so a cancelled or moved occurrence keeps its row (and its iCalendar SEQUENCE).
After every change that can affect the calendar, :func:`replan` takes requests out
of future sessions whose gate no longer passes on that date and places ready ones
(:mod:`domain.placement`). The scheduling commands name the pseudonyms they move,
so they are case data (encrypted rooms only); ``termine`` shows counts and is not.
"""

from __future__ import annotations

import re
from datetime import datetime, time, timedelta
from typing import Annotated

from commands.casework import (
    audit,
    date_arg,
)
from commands.english import option_name
from commands.framework import REST, CommandContext, Label, Router, command_word
from commands.i18n import GERMAN, N_, Texts
from commands.reply import Doc, Reply, b, code, fill, holes
from domain.dates import LOCAL_TZ, Towards, local_date
from domain.errors import ArgumentError, RepeatedOption, SessionNotFound, UserError
from domain.org import Role
from domain.planning import Replan, arm, materialize, replan, touch
from domain.series import HolidayRule, parse_rule
from domain.when import WhenError, parse_when
from storage.models import Session, SessionSeries
from storage.states import SessionState

_DURATION = {"duration": "dauer"}  # only ``termin neu`` has it, not declared (its rest)
_SPAN = re.compile(r"(\d{1,2}):(\d{2})\s*[-–]\s*(\d{1,2}):(\d{2})")


def when_text(moment: datetime, t: Texts = GERMAN) -> str:
    """``Do 26.11.2026 10:00`` (Berlin) in the language of ``t`` (``Texts.when``)."""
    return t.when(moment)


def command_text(t: Texts, prefix: str, name: str, *args: object) -> str:
    """A command as a user types it in the room's language: ``!fk termin neu`` in German,
    ``!fk meeting new`` in any other (the English words, commands/english.py)."""
    return " ".join([prefix, command_word(name, t), *(str(a) for a in args)])


def session_line(session: Session, taken: int, t: Texts = GERMAN) -> str:
    return t.ngettext(
        "#%(id)s %(when)s–%(end)s %(name)s – %(taken)s/%(count)d Fall",
        "#%(id)s %(when)s–%(end)s %(name)s – %(taken)s/%(count)d Fälle",
        session.capacity,
        id=session.id,
        when=when_text(session.starts_at, t),
        end=t.time(session.ends_at),
        name=session.name,
        taken=taken,
    )


def single_session(
    ctx: CommandContext,
    starts: datetime,
    minutes: int,
    *,
    capacity: int,
    slot: int,
    **audit_detail: int,
) -> Session:
    """A single (ad-hoc) conference, armed and audited."""
    session = Session(
        series_id=None,
        room_id=ctx.room_id,
        original_day=None,
        name=ctx.t.gettext("Fallkonferenz"),
        starts_at=starts,
        ends_at=starts + timedelta(minutes=minutes),
        capacity=capacity,
        slot_minutes=slot,
        state=SessionState.PLANNED,
        sequence=0,
        created_at=ctx.now,
        updated_at=ctx.now,
    )
    ctx.uow.sessions.add(session)
    arm(ctx.uow, ctx.calendar, session, ctx.now)
    audit(ctx, "termin_angelegt", None, termin=session.id, **audit_detail)
    return session


def report(
    doc: Doc,
    plan: Replan,
    *,
    prefix: str,
    unplaced: bool = False,
    case: str | None = None,
    changed_at: datetime | None = None,
    t: Texts = GERMAN,
) -> None:
    """Say what moved; with ``unplaced`` also what fits nowhere (scheduling commands);
    with ``case`` only what concerns that case (a caseworker's command), including its
    requests that became ready at ``changed_at`` and fit nowhere, so moderation reads
    it in the room once."""
    if case is not None:
        plan = Replan(
            [(r, s) for r, s in plan.placed if r.case_pseudonym == case],
            [(r, s) for r, s in plan.removed if r.case_pseudonym == case],
            [
                (r, why)
                for r, why in plan.unplaced
                if r.case_pseudonym == case and r.updated_at == changed_at
            ],
        )
        unplaced = True
    for request, session in plan.removed:
        text = t.gettext(
            "🗓️ Anfrage %(id)s (%(case)s) von Termin #%(session)s (%(when)s) genommen.",
            case=request.case_pseudonym,
            session=session.id,
            when=when_text(session.starts_at, t),
            **holes("id"),
        )
        doc.para(*fill(text, id=b(f"#{request.id}")))
    for request, session in plan.placed:
        text = t.gettext(
            "🗓️ Anfrage %(id)s (%(case)s) eingeplant: Termin %(session)s am %(when)s.",
            case=request.case_pseudonym,
            when=when_text(session.starts_at, t),
            **holes("id", "session"),
        )
        doc.para(*fill(text, id=b(f"#{request.id}"), session=b(f"#{session.id}")))
    for request, reason in plan.unplaced if unplaced else []:
        values = {"case": request.case_pseudonym, "reason": t.gettext(reason)}
        create = code(command_text(t, prefix, "termin neu", "…"))
        if request.urgency == "dringend":
            text = t.gettext(
                "⚠️ Anfrage %(id)s (%(case)s) passt in keinen Termin: %(reason)s. Bitte einen "
                "Termin anlegen (%(command)s oder %(poll)s).",
                **values,
                **holes("id", "command", "poll"),
            )
            poll = code(command_text(t, prefix, "umfrage", request.id))
            doc.para(*fill(text, id=b(f"#{request.id}"), command=create, poll=poll))
        else:
            text = t.gettext(
                "⚠️ Anfrage %(id)s (%(case)s) passt in keinen Termin: %(reason)s. Bitte einen "
                "Termin anlegen (%(command)s).",
                **values,
                **holes("id", "command"),
            )
            doc.para(*fill(text, id=b(f"#{request.id}"), command=create))


def _span(text: str) -> tuple[time, int]:
    match = _SPAN.fullmatch(text.strip())
    if match is None:
        raise ArgumentError(N_("zeit bitte als Beginn–Ende angeben, z. B. zeit=10:00-12:00."))
    h1, m1, h2, m2 = (int(g) for g in match.groups())
    if h1 > 23 or h2 > 23 or m1 > 59 or m2 > 59:
        raise ArgumentError(N_("Diese Uhrzeit gibt es nicht."))
    minutes = (h2 * 60 + m2) - (h1 * 60 + m1)
    if minutes <= 0:
        raise ArgumentError(N_("Das Ende muss nach dem Beginn liegen (am selben Tag)."))
    return time(h1, m1), minutes


def _positive(error: str, value: int | None, default: int, top: int) -> int:
    """``value`` (or ``default``) if it lies in 1..``top``; else ``error`` with ``top``."""
    value = default if value is None else value
    if not 1 <= value <= top:
        raise ArgumentError(error, top=top)
    return value


def get_session(ctx: CommandContext, number: int | None) -> Session:
    if number is None:
        upcoming = ctx.uow.sessions.upcoming(ctx.now, limit=1)
        if not upcoming:
            raise UserError(
                N_("Es gibt keinen künftigen Termin. Anlegen: %(prefix)s termin neu …"),
                prefix=ctx.prefix,
            )
        return upcoming[0]
    session = ctx.uow.sessions.get(number)
    if session is None or session.state != SessionState.PLANNED:
        raise SessionNotFound(ctx.prefix)
    return session


def _day_warning(ctx: CommandContext, doc: Doc, starts: datetime) -> None:
    """A session on a weekend or a public holiday is allowed (a crisis does not wait),
    but said: it is rarely what was meant."""
    day, t = local_date(starts), ctx.t
    if ctx.calendar.is_holiday(day):
        doc.para(
            t.gettext(
                "⚠️ Der %(day)s ist ein Feiertag. Bitte prüfen, ob das gemeint ist.",
                day=t.day(day),
            )
        )
    elif day.weekday() == 5:
        doc.para(
            t.gettext(
                "⚠️ Der %(day)s ist ein Samstag. Bitte prüfen, ob das gemeint ist.",
                day=t.day(day),
            )
        )
    elif day.weekday() == 6:
        doc.para(
            t.gettext(
                "⚠️ Der %(day)s ist ein Sonntag. Bitte prüfen, ob das gemeint ist.",
                day=t.day(day),
            )
        )


def _split_options(text: str) -> tuple[str, dict[str, str]]:
    words, options = [], {}
    for word in text.split():
        key, sep, value = word.partition("=")
        if sep and key.isalpha():
            # English option names too; ``duration=`` is ``termin neu``'s own option
            name = _DURATION.get(key.casefold()) or option_name(key.casefold())
            if name in options:
                raise RepeatedOption(name)
            options[name] = value
        else:
            words.append(word)
    return " ".join(words), options


router = Router("sessions")

# How a series treats public holidays, as its reply says it.
_HOLIDAYS = {
    HolidayRule.SKIP: N_("Feiertage: auslassen"),
    HolidayRule.MOVE: N_("Feiertage: verschieben"),
}


@router.command(
    "reihe neu",
    summary=N_("Legt eine wiederkehrende Sitzung an (z. B. jeden 2. Mittwoch im Monat)."),
    role=Role.MODERATION,
    params={
        "name": N_(
            "Name der Reihe, z. B. Schnittstellengespräch (in Anführungszeichen, "
            "wenn mehrere Wörter)"
        ),
        "regel": N_("z. B. „jeden 2. Mittwoch im Monat“, „jeden Mittwoch“, „alle 2 Wochen Di“"),
        "zeit": N_("Beginn–Ende, z. B. 10:00-12:00"),
        "plätze": N_("höchstens so viele Fälle je Sitzung"),
        "minuten": N_("Minuten je Fall"),
        "ab": N_("erster möglicher Tag (Standard: heute)"),
        "feiertage": N_("auslassen oder verschieben (auf den nächsten Werktag)"),
    },
    examples=(
        N_(
            'reihe neu Schnittstellengespräch regel="jeden 2. Mittwoch im Monat" '
            "zeit=10:00-12:00 plätze=6 minuten=20"
        ),
    ),
)
def reihe_neu(
    ctx: CommandContext,
    name: str,
    *,
    regel: Annotated[str, Label("regel")],
    zeit: Annotated[str, Label("hh:mm-hh:mm")],
    plätze: int | None = None,
    minuten: int | None = None,
    ab: Annotated[str | None, Label("datum")] = None,
    feiertage: HolidayRule = HolidayRule.SKIP,
) -> Reply:
    t = ctx.t
    if len(name) > 80:
        raise ArgumentError(N_("Der Name ist zu lang (höchstens 80 Zeichen)."))
    rule = parse_rule(regel)
    start, duration = _span(zeit)
    capacity = _positive(
        N_("plätze muss zwischen 1 und %(top)s liegen."), plätze, ctx.calendar.capacity, 50
    )
    slot = _positive(
        N_("minuten muss zwischen 1 und %(top)s liegen."), minuten, ctx.calendar.slot_minutes, 240
    )
    first = local_date(ctx.now)
    if ab:
        first = date_arg("ab", ab, ctx.today, Towards.FUTURE, language=ctx.t.language)
    series = SessionSeries(
        room_id=ctx.room_id,
        name=name,
        rule=rule,
        first_day=first,
        start_time=f"{start:%H:%M}",
        duration_minutes=duration,
        capacity=capacity,
        slot_minutes=slot,
        holiday_rule=feiertage.value,
        active=True,
        created_by=ctx.sender,
        created_at=ctx.now,
    )
    ctx.uow.sessions.add_series(series)
    audit(ctx, "reihe_angelegt", None, reihe=series.id, regel=rule)
    plan = replan(ctx.work)
    upcoming = [s for s in ctx.uow.sessions.upcoming(ctx.now) if s.series_id == series.id]
    text = t.gettext(
        "🔁 Reihe %(name)s angelegt (%(rule)s, %(time)s Uhr, %(duration)s, höchstens "
        "%(capacity)s à %(slot)s; %(holidays)s).",
        rule=rule,
        time=start.strftime("%H:%M"),
        duration=t.ngettext("%(count)d Minute", "%(count)d Minuten", duration),
        capacity=t.ngettext("%(count)d Fall", "%(count)d Fälle", capacity),
        slot=t.ngettext("%(count)d Minute", "%(count)d Minuten", slot),
        holidays=t.gettext(_HOLIDAYS[feiertage]),
        **holes("name"),
    )
    doc = Doc().para(*fill(text, name=b(name)))
    if not upcoming:
        doc.para(t.gettext("Im Planungszeitraum fällt kein Termin an."))
    else:
        taken = ctx.uow.sessions.taken([s.id for s in upcoming[:5]])
        doc.para(t.gettext("Nächste Termine:"))
        doc.items([(session_line(s, taken.get(s.id, 0), t),) for s in upcoming[:5]])
    report(doc, plan, prefix=ctx.prefix, unplaced=True, t=t)
    return doc.build()


@router.command(
    "termin neu",
    summary=N_("Legt einen einzelnen (z. B. dringenden) Termin an."),
    role=Role.MODERATION,
    params={
        "wann": N_("Datum und Uhrzeit, z. B. 25.11.2026 14:30, Mi 10:00, morgen 9 Uhr"),
    },
    details=N_("Optionen dahinter: dauer=<minuten> plätze=<anzahl> minuten=<je fall>."),
    examples=("termin neu 25.11.2026 14:30", N_("termin neu morgen 9 Uhr dauer=60 plätze=2")),
)
def termin_neu(ctx: CommandContext, wann: Annotated[str, REST]) -> Reply:
    t = ctx.t
    text, options = _split_options(wann)
    unknown = set(options) - {"dauer", "plätze", "plaetze", "minuten"}
    if unknown:
        raise ArgumentError(N_("Erlaubte Optionen: dauer=, plätze=, minuten=."))
    starts = _moment(ctx, text)
    if starts <= ctx.now:
        raise ArgumentError(N_("Der Termin liegt in der Vergangenheit."))
    duration = _int_option(
        options,
        "dauer",
        ctx.calendar.duration_minutes,
        600,
        N_("dauer muss eine Zahl zwischen 1 und %(top)s sein."),
    )
    places = N_("plätze muss eine Zahl zwischen 1 und %(top)s sein.")
    capacity = _int_option(
        options,
        "plätze",
        _int_option(options, "plaetze", ctx.calendar.capacity, 50, places),
        50,
        places,
    )
    slot = _int_option(
        options,
        "minuten",
        ctx.calendar.slot_minutes,
        240,
        N_("minuten muss eine Zahl zwischen 1 und %(top)s sein."),
    )
    session = single_session(ctx, starts, duration, capacity=capacity, slot=slot)
    plan = replan(ctx.work)
    taken = ctx.uow.sessions.taken([session.id]).get(session.id, 0)
    created = t.gettext("📅 Termin angelegt: %(session)s", **holes("session"))
    doc = Doc().para(*fill(created, session=b(session_line(session, taken, t))))
    _day_warning(ctx, doc, starts)
    report(doc, plan, prefix=ctx.prefix, unplaced=True, t=t)
    return doc.build()


@router.command(
    "termin absagen",
    summary=N_("Sagt einen Termin ab; seine Fälle werden neu eingeplant."),
    role=Role.MODERATION,
    params={"nr": N_("Nummer des Termins (siehe {prefix} termine)")},
    examples=("termin absagen 12",),
)
def termin_absagen(ctx: CommandContext, nr: int) -> Reply:
    session = get_session(ctx, nr)
    session.state, session.sequence, session.updated_at = (
        SessionState.CANCELLED,
        session.sequence + 1,
        ctx.now,
    )
    released = [r for _, r in ctx.uow.sessions.agenda(session.id)]
    for request in released:
        ctx.uow.sessions.unplace(request.id)
        audit(
            ctx,
            "agenda_entfernt",
            request.case_pseudonym,
            anfrage=request.id,
            termin=session.id,
        )
    ctx.uow.sessions.cancel_reminders(session.id)
    touch(ctx.work, session.id)
    audit(ctx, "termin_abgesagt", None, termin=session.id)
    plan = replan(ctx.work)
    text = ctx.t.gettext(
        "❌ Termin %(id)s am %(when)s abgesagt.",
        when=when_text(session.starts_at, ctx.t),
        **holes("id"),
    )
    doc = Doc().para(*fill(text, id=b(f"#{session.id}")))
    report(doc, plan, prefix=ctx.prefix, unplaced=True, t=ctx.t)
    return doc.build()


@router.command(
    "termin verschieben",
    summary=N_("Verschiebt einen Termin."),
    role=Role.MODERATION,
    params={"nr": N_("Nummer des Termins"), "wann": N_("neues Datum und Uhrzeit")},
    examples=("termin verschieben 12 16.12.2026 10:00",),
)
def termin_verschieben(ctx: CommandContext, nr: int, wann: Annotated[str, REST]) -> Reply:
    session = get_session(ctx, nr)
    starts = _moment(ctx, wann, default=session.starts_at.astimezone(LOCAL_TZ).time())
    if starts <= ctx.now:
        raise ArgumentError(N_("Der neue Zeitpunkt liegt in der Vergangenheit."))
    length = session.ends_at - session.starts_at
    before = when_text(session.starts_at, ctx.t)
    session.starts_at, session.ends_at = starts, starts + length
    session.sequence, session.updated_at = session.sequence + 1, ctx.now
    arm(ctx.uow, ctx.calendar, session, ctx.now)
    touch(ctx.work, session.id)
    audit(ctx, "termin_verschoben", None, termin=session.id)
    plan = replan(ctx.work)
    text = ctx.t.gettext(
        "📅 Termin %(id)s verschoben: %(before)s → %(after)s.",
        before=before,
        **holes("id", "after"),
    )
    doc = Doc().para(*fill(text, id=b(f"#{session.id}"), after=b(when_text(starts, ctx.t))))
    _day_warning(ctx, doc, starts)
    report(doc, plan, prefix=ctx.prefix, unplaced=True, t=ctx.t)
    return doc.build()


@router.command(
    "termine",
    summary=N_("Zeigt die nächsten Termine mit belegten Plätzen."),
    case_data=False,
    examples=("termine",),
)
def termine(ctx: CommandContext) -> Reply:
    t = ctx.t
    materialize(ctx.work)  # idempotent: a series' new occurrences show up without a job
    upcoming = list(ctx.uow.sessions.upcoming(ctx.now, limit=10))
    doc = Doc().para(b(t.gettext("Nächste Termine")))
    if not upcoming:
        text = t.gettext("Keine Termine geplant. Anlegen: %(command)s", **holes("command"))
        create = code(command_text(t, ctx.prefix, "termin neu", "…"))
        return doc.para(*fill(text, command=create)).build()
    taken = ctx.uow.sessions.taken([s.id for s in upcoming])
    doc.items([(session_line(s, taken.get(s.id, 0), t),) for s in upcoming])
    return doc.build()


@router.command(
    "einplanen",
    summary=N_("Plant alle bereiten Anfragen ein und nennt, was nirgends passt."),
    role=Role.MODERATION,
    examples=("einplanen",),
)
def einplanen(ctx: CommandContext) -> Reply:
    plan = replan(ctx.work)
    doc = Doc().para(b(ctx.t.gettext("Einplanung")))
    if not (plan.placed or plan.removed or plan.unplaced):
        doc.para(ctx.t.gettext("Nichts zu ändern: alle bereiten Anfragen sind eingeplant."))
    report(doc, plan, prefix=ctx.prefix, unplaced=True, t=ctx.t)
    return doc.build()


def _moment(ctx: CommandContext, text: str, default: time | None = None) -> datetime:
    try:
        return parse_when(text, ctx.sent_at, language=ctx.t.language).moment(default)
    except WhenError as err:
        raise ArgumentError(err.text) from None


def _int_option(options: dict[str, str], key: str, default: int, top: int, error: str) -> int:
    """The option ``key`` as a number in 1..``top`` (``default`` if not given)."""
    if key not in options:
        return default
    raw = options[key]
    if not raw.isdigit() or not 1 <= int(raw) <= top:
        raise ArgumentError(error, top=top)
    return int(raw)
