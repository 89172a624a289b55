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
from commands.framework import REST, CommandContext, Label, Router
from commands.i18n import GERMAN, Texts
from commands.reply import Doc, Reply, b, code
from domain.dates import LOCAL_TZ, Towards, format_date, local_date
from domain.errors import ArgumentError, RepeatedOption, SessionNotFound, UserError
from domain.org import Role
from domain.planning import Replan, arm, materialize, replan, touch
from domain.series import HolidayRule, parse_rule
from domain.when import WhenError, parse_when
from storage.models import Session, SessionSeries
from storage.states import SessionState

_SPAN = re.compile(r"(\d{1,2}):(\d{2})\s*[-–]\s*(\d{1,2}):(\d{2})")


def when_text(moment: datetime, t: Texts = GERMAN) -> str:
    """``Do 26.11.2026 10:00`` (Berlin) in the language of ``t`` (``Texts.when``)."""
    return t.when(moment)


def session_line(session: Session, taken: int) -> str:
    end = session.ends_at.astimezone(LOCAL_TZ)
    return (
        f"#{session.id} {when_text(session.starts_at)}–{end:%H:%M} {session.name} – "
        f"{taken}/{session.capacity} Fälle"
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
        name="Fallkonferenz",
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
        doc.para(
            "🗓️ Anfrage ",
            b(f"#{request.id}"),
            f" ({request.case_pseudonym}) von Termin ",
            f"#{session.id} ({when_text(session.starts_at)}) genommen.",
        )
    for request, session in plan.placed:
        doc.para(
            "🗓️ Anfrage ",
            b(f"#{request.id}"),
            f" ({request.case_pseudonym}) eingeplant: Termin ",
            b(f"#{session.id}"),
            f" am {when_text(session.starts_at)}.",
        )
    for request, reason in plan.unplaced if unplaced else []:
        doc.para(
            "⚠️ Anfrage ",
            b(f"#{request.id}"),
            f" ({request.case_pseudonym}) passt in keinen "
            f"Termin: {reason}. Bitte einen Termin anlegen (",
            code(f"{prefix} termin neu …"),
            *(
                (" oder ", code(f"{prefix} umfrage {request.id}"))
                if request.urgency == "dringend"
                else ()
            ),
            ").",
        )


def _span(text: str) -> tuple[time, int]:
    match = _SPAN.fullmatch(text.strip())
    if match is None:
        raise ArgumentError("zeit bitte als Beginn–Ende angeben, z. B. zeit=10:00-12:00.")
    h1, m1, h2, m2 = (int(g) for g in match.groups())
    if h1 > 23 or h2 > 23 or m1 > 59 or m2 > 59:
        raise ArgumentError("Diese Uhrzeit gibt es nicht.")
    minutes = (h2 * 60 + m2) - (h1 * 60 + m1)
    if minutes <= 0:
        raise ArgumentError("Das Ende muss nach dem Beginn liegen (am selben Tag).")
    return time(h1, m1), minutes


def _positive(name: str, value: int | None, default: int, top: int) -> int:
    value = default if value is None else value
    if not 1 <= value <= top:
        raise ArgumentError(f"{name} muss zwischen 1 und {top} liegen.")
    return value


def get_session(ctx: CommandContext, number: int | None) -> Session:
    if number is None:
        upcoming = ctx.uow.sessions.upcoming(ctx.now, limit=1)
        if not upcoming:
            raise UserError(f"Es gibt keinen künftigen Termin. Anlegen: {ctx.prefix} termin neu …")
        return upcoming[0]
    session = ctx.uow.sessions.get(number)
    if session is None or session.state != SessionState.PLANNED:
        raise SessionNotFound(ctx.prefix)
    return session


def _day_warning(ctx: CommandContext, doc: Doc, starts: datetime) -> None:
    """A session on a weekend or a public holiday is allowed (a crisis does not wait),
    but said: it is rarely what was meant."""
    day = local_date(starts)
    if ctx.calendar.is_holiday(day):
        doc.para(f"⚠️ Der {format_date(day)} ist ein Feiertag. Bitte prüfen, ob das gemeint ist.")
    elif day.weekday() >= 5:
        weekday = "Samstag" if day.weekday() == 5 else "Sonntag"
        doc.para(f"⚠️ Der {format_date(day)} ist ein {weekday}. Bitte prüfen, ob das gemeint ist.")


def _split_options(text: str) -> tuple[str, dict[str, str]]:
    words, options = [], {}
    for word in text.split():
        key, sep, value = word.partition("=")
        if sep and key.isalpha():
            name = option_name(key.casefold())  # English option names too
            if name in options:
                raise RepeatedOption(name)
            options[name] = value
        else:
            words.append(word)
    return " ".join(words), options


router = Router("sessions")


@router.command(
    "reihe neu",
    summary="Legt eine wiederkehrende Sitzung an (z. B. jeden 2. Mittwoch im Monat).",
    role=Role.MODERATION,
    params={
        "name": "Name der Reihe, z. B. Schnittstellengespräch (in Anführungszeichen, "
        "wenn mehrere Wörter)",
        "regel": "z. B. „jeden 2. Mittwoch im Monat“, „jeden Mittwoch“, „alle 2 Wochen Di“",
        "zeit": "Beginn–Ende, z. B. 10:00-12:00",
        "plätze": "höchstens so viele Fälle je Sitzung",
        "minuten": "Minuten je Fall",
        "ab": "erster möglicher Tag (Standard: heute)",
        "feiertage": "auslassen oder verschieben (auf den nächsten Werktag)",
    },
    examples=(
        'reihe neu Schnittstellengespräch regel="jeden 2. Mittwoch im Monat" '
        "zeit=10:00-12:00 plätze=6 minuten=20",
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
    if len(name) > 80:
        raise ArgumentError("Der Name ist zu lang (höchstens 80 Zeichen).")
    rule = parse_rule(regel)
    start, duration = _span(zeit)
    capacity = _positive("plätze", plätze, ctx.calendar.capacity, 50)
    slot = _positive("minuten", minuten, ctx.calendar.slot_minutes, 240)
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
    doc = Doc().para(
        "🔁 Reihe ",
        b(name),
        f" angelegt ({rule}, {start:%H:%M} Uhr, {duration} Minuten, "
        f"höchstens {capacity} Fälle à {slot} Minuten; Feiertage: {feiertage.value}).",
    )
    if not upcoming:
        doc.para("Im Planungszeitraum fällt kein Termin an.")
    else:
        taken = ctx.uow.sessions.taken([s.id for s in upcoming[:5]])
        doc.para("Nächste Termine:")
        doc.items([(session_line(s, taken.get(s.id, 0)),) for s in upcoming[:5]])
    report(doc, plan, prefix=ctx.prefix, unplaced=True)
    return doc.build()


@router.command(
    "termin neu",
    summary="Legt einen einzelnen (z. B. dringenden) Termin an.",
    role=Role.MODERATION,
    params={
        "wann": "Datum und Uhrzeit, z. B. 25.11.2026 14:30, Mi 10:00, morgen 9 Uhr",
    },
    details="Optionen dahinter: dauer=<minuten> plätze=<anzahl> minuten=<je fall>.",
    examples=("termin neu 25.11.2026 14:30", "termin neu morgen 9 Uhr dauer=60 plätze=2"),
)
def termin_neu(ctx: CommandContext, wann: Annotated[str, REST]) -> Reply:
    text, options = _split_options(wann)
    unknown = set(options) - {"dauer", "plätze", "plaetze", "minuten"}
    if unknown:
        raise ArgumentError("Erlaubte Optionen: dauer=, plätze=, minuten=.")
    starts = _moment(ctx, text)
    if starts <= ctx.now:
        raise ArgumentError("Der Termin liegt in der Vergangenheit.")
    duration = _int_option(options, "dauer", ctx.calendar.duration_minutes, 600)
    capacity = _int_option(
        options, "plätze", _int_option(options, "plaetze", ctx.calendar.capacity, 50), 50
    )
    slot = _int_option(options, "minuten", ctx.calendar.slot_minutes, 240)
    session = single_session(ctx, starts, duration, capacity=capacity, slot=slot)
    plan = replan(ctx.work)
    taken = ctx.uow.sessions.taken([session.id]).get(session.id, 0)
    doc = Doc().para("📅 Termin angelegt: ", b(session_line(session, taken)))
    _day_warning(ctx, doc, starts)
    report(doc, plan, prefix=ctx.prefix, unplaced=True)
    return doc.build()


@router.command(
    "termin absagen",
    summary="Sagt einen Termin ab; seine Fälle werden neu eingeplant.",
    role=Role.MODERATION,
    params={"nr": "Nummer des Termins (siehe {prefix} termine)"},
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
    doc = Doc().para(
        "❌ Termin ", b(f"#{session.id}"), f" am {when_text(session.starts_at)} abgesagt."
    )
    report(doc, plan, prefix=ctx.prefix, unplaced=True)
    return doc.build()


@router.command(
    "termin verschieben",
    summary="Verschiebt einen Termin.",
    role=Role.MODERATION,
    params={"nr": "Nummer des Termins", "wann": "neues Datum und Uhrzeit"},
    examples=("termin verschieben 12 16.12.2026 10:00",),
)
def termin_verschieben(ctx: CommandContext, nr: int, wann: Annotated[str, REST]) -> Reply:
    session = get_session(ctx, nr)
    starts = _moment(ctx, wann, default=session.starts_at.astimezone(LOCAL_TZ).time())
    if starts <= ctx.now:
        raise ArgumentError("Der neue Zeitpunkt liegt in der Vergangenheit.")
    length = session.ends_at - session.starts_at
    before = when_text(session.starts_at)
    session.starts_at, session.ends_at = starts, starts + length
    session.sequence, session.updated_at = session.sequence + 1, ctx.now
    arm(ctx.uow, ctx.calendar, session, ctx.now)
    touch(ctx.work, session.id)
    audit(ctx, "termin_verschoben", None, termin=session.id)
    plan = replan(ctx.work)
    doc = Doc().para(
        "📅 Termin ",
        b(f"#{session.id}"),
        f" verschoben: {before} → ",
        b(when_text(starts)),
        ".",
    )
    _day_warning(ctx, doc, starts)
    report(doc, plan, prefix=ctx.prefix, unplaced=True)
    return doc.build()


@router.command(
    "termine",
    summary="Zeigt die nächsten Termine mit belegten Plätzen.",
    case_data=False,
    examples=("termine",),
)
def termine(ctx: CommandContext) -> Reply:
    materialize(ctx.work)  # idempotent: a series' new occurrences show up without a job
    upcoming = list(ctx.uow.sessions.upcoming(ctx.now, limit=10))
    doc = Doc().para(b("Nächste Termine"))
    if not upcoming:
        return doc.para(
            "Keine Termine geplant. Anlegen: ", code(f"{ctx.prefix} termin neu …")
        ).build()
    taken = ctx.uow.sessions.taken([s.id for s in upcoming])
    doc.items([(session_line(s, taken.get(s.id, 0)),) for s in upcoming])
    return doc.build()


@router.command(
    "einplanen",
    summary="Plant alle bereiten Anfragen ein und nennt, was nirgends passt.",
    role=Role.MODERATION,
    examples=("einplanen",),
)
def einplanen(ctx: CommandContext) -> Reply:
    plan = replan(ctx.work)
    doc = Doc().para(b("Einplanung"))
    if not (plan.placed or plan.removed or plan.unplaced):
        doc.para("Nichts zu ändern: alle bereiten Anfragen sind eingeplant.")
    report(doc, plan, prefix=ctx.prefix, unplaced=True)
    return doc.build()


def _moment(ctx: CommandContext, text: str, default: time | None = None) -> datetime:
    try:
        return parse_when(text, ctx.sent_at, language=ctx.t.language).moment(default)
    except WhenError as err:
        raise ArgumentError(err.text) from None


def _int_option(options: dict[str, str], key: str, default: int, top: int) -> int:
    if key not in options:
        return default
    raw = options[key]
    if not raw.isdigit() or not 1 <= int(raw) <= top:
        raise ArgumentError(f"{key} muss eine Zahl zwischen 1 und {top} sein.")
    return int(raw)
