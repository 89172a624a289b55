"""Sessions end to end through the real engine: series, ad-hoc dates, placement, agenda.

Every command goes through ``Engine.ingest`` with a real database (SQLite and
PostgreSQL), a configured organisation and the Hessen holiday calendar. Replies are
read from the outbox, sessions and placements from the tables, and every placement
change is checked against the audit trail.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta

import pytest

from bot.clock import FakeClock
from bot.ids import UserId
from bot.testing.harness import (
    AA,
    ADMIN,
    AGENTUR,
    JA1,
    JA2,
    JC,
    JOBCENTER,
    JUGENDAMT,
    MOD,
    NOBODY,
    PREFIX,
    USERS,
    Room,
    d,
    items_after,
    local,
    utc,
)
from commands.core import build_registry
from storage.uow import Database

MONTHLY = 'reihe neu Schnittstellengespräch regel="jeden 2. Mittwoch im Monat" zeit=10:00-12:00'


@pytest.fixture
def clock() -> FakeClock:
    # Monday 23.11.2026, 10:00 in Berlin (winter time, UTC+1).
    return FakeClock(datetime(2026, 11, 23, 9, 0, tzinfo=UTC))


@pytest.fixture
def room(database: Database, clock: FakeClock) -> Room:
    return Room(database, clock)


# -- small helpers ---------------------------------------------------------------------------


def assert_usage(reply: str, command: str) -> None:
    usage = next(s for s in build_registry() if s.name == command).usage(PREFIX)
    assert f"Aufruf: `{usage}`" in reply, reply


def placed_line(request_id: int, pseudonym: str, session_id: int, when: str) -> str:
    return f"🗓️ Anfrage #{request_id} ({pseudonym}) eingeplant: Termin #{session_id} am {when}."


def removed_line(request_id: int, pseudonym: str, session_id: int, when: str) -> str:
    return f"🗓️ Anfrage #{request_id} ({pseudonym}) von Termin #{session_id} ({when}) genommen."


def unplaced_line(request_id: int, pseudonym: str, reason: str) -> str:
    return (
        f"⚠️ Anfrage #{request_id} ({pseudonym}) passt in keinen Termin: {reason}. "
        f"Bitte einen Termin anlegen (`{PREFIX} termin neu …`)."
    )


def weekdays_between(first: date, last: date, weekday: int) -> list[date]:
    day = first + timedelta(days=(weekday - first.weekday()) % 7)
    days = []
    while day <= last:
        days.append(day)
        day += timedelta(days=7)
    return days


# -- reihe neu --------------------------------------------------------------------------------

HORIZON_END = date(2026, 11, 23) + timedelta(days=180)  # 22.05.2027


def test_reihe_neu_creates_the_monthly_sessions_up_to_the_horizon_in_berlin_time(
    room: Room,
) -> None:
    reply = room.mod(MONTHLY + " plätze=4 minuten=30")

    sessions = room.sessions()
    days = ("09.12.2026", "13.01.2027", "10.02.2027", "10.03.2027", "14.04.2027", "12.05.2027")
    assert [local(s.starts_at) for s in sessions] == [(d(day), time(10, 0)) for day in days]
    assert date(2027, 5, 22) == HORIZON_END  # 09.06.2027 lies beyond it
    # 10:00 in Berlin is 09:00 UTC in winter and 08:00 UTC after the change on 28.03.2027.
    assert [s.starts_at for s in sessions] == [
        utc("09.12.2026", "09:00"),
        utc("13.01.2027", "09:00"),
        utc("10.02.2027", "09:00"),
        utc("10.03.2027", "09:00"),
        utc("14.04.2027", "08:00"),
        utc("12.05.2027", "08:00"),
    ]
    assert all(s.ends_at - s.starts_at == timedelta(hours=2) for s in sessions)
    assert {(s.capacity, s.slot_minutes, s.state, s.sequence) for s in sessions} == {
        (4, 30, "geplant", 0)
    }
    assert [s.original_day for s in sessions] == [local(s.starts_at)[0] for s in sessions]
    assert {s.name for s in sessions} == {"Schnittstellengespräch"}

    with room.db.uow() as uow:
        [series] = uow.sessions.active_series()
        assert (series.rule, series.start_time, series.duration_minutes, series.holiday_rule) == (
            "FREQ=MONTHLY;BYDAY=2WE",
            "10:00",
            120,
            "auslassen",
        )
        assert series.created_by == MOD
    assert {s.series_id for s in sessions} == {series.id}

    assert reply.startswith("🔁 Reihe Schnittstellengespräch angelegt (")
    assert "10:00 Uhr, 120 Minuten, höchstens 4 Fälle à 30 Minuten; Feiertage: auslassen" in reply
    assert items_after(reply, "Nächste Termine:") == [
        f"#{s.id} Mi {local(s.starts_at)[0]:%d.%m.%Y} 10:00–12:00 Schnittstellengespräch "
        "– 0/4 Fälle"
        for s in sessions[:5]
    ]
    [entry] = room.audit()
    assert (entry.action, entry.actor, entry.pseudonym) == ("reihe_angelegt", MOD, None)
    assert entry.detail == {"reihe": series.id, "regel": "FREQ=MONTHLY;BYDAY=2WE"}


def test_series_sessions_are_created_once_and_follow_the_horizon(room: Room) -> None:
    room.mod(MONTHLY)
    first = [(s.id, s.starts_at) for s in room.sessions()]
    room.say(JC, "termine")
    room.say(JC, "termine")
    assert [(s.id, s.starts_at) for s in room.sessions()] == first

    # Five weeks later the horizon reaches 09.06.2027: the next occurrence appears, once.
    room.clock.advance(timedelta(days=35))
    reply = room.say(JC, "termine")
    assert [local(s.starts_at)[0] for s in room.sessions()][-2:] == [
        d("12.05.2027"),
        d("09.06.2027"),
    ]
    assert len(room.sessions()) == len(first) + 1
    assert "Mi 09.12.2026" not in reply  # the past session is no longer listed
    assert room.actions() == ["reihe_angelegt"]


FRIDAY_HOLIDAYS = {  # Hessen: 1. Weihnachtstag, Neujahr, Karfreitag (→ Ostermontag → Dienstag)
    d("25.12.2026"): d("28.12.2026"),
    d("01.01.2027"): d("04.01.2027"),
    d("26.03.2027"): d("30.03.2027"),
}
THURSDAY_HOLIDAYS = {d("06.05.2027"): d("07.05.2027")}  # Christi Himmelfahrt


@pytest.mark.parametrize(
    ("rule", "weekday", "holidays"),
    [("jeden Freitag", 4, FRIDAY_HOLIDAYS), ("jeden Donnerstag", 3, THURSDAY_HOLIDAYS)],
    ids=["freitag", "donnerstag"],
)
@pytest.mark.parametrize("holiday_rule", ["auslassen", "verschieben"])
def test_reihe_neu_skips_or_moves_hessian_holidays(
    room: Room, rule: str, weekday: int, holidays: dict[date, date], holiday_rule: str
) -> None:
    room.mod(f'reihe neu Team regel="{rule}" zeit=10:00-11:00 feiertage={holiday_rule}')

    plain = weekdays_between(date(2026, 11, 24), HORIZON_END, weekday)
    assert set(holidays) <= set(plain)
    if holiday_rule == "auslassen":
        expected = [(day, day) for day in plain if day not in holidays]
    else:
        expected = [(day, holidays.get(day, day)) for day in plain]
    sessions = room.sessions()
    assert [(s.original_day, local(s.starts_at)[0]) for s in sessions] == expected
    assert {local(s.starts_at)[1] for s in sessions} == {time(10, 0)}


def test_a_moved_holiday_occurrence_is_listed_on_its_new_day(room: Room) -> None:
    reply = room.mod('reihe neu Team regel="jeden Freitag" zeit=10:00-11:00 feiertage=verschieben')
    assert "Feiertage: verschieben" in reply
    lines = items_after(reply, "Nächste Termine:")
    assert [line.split(" Team")[0].split(" ", 1)[1] for line in lines] == [
        "Fr 27.11.2026 10:00–11:00",
        "Fr 04.12.2026 10:00–11:00",
        "Fr 11.12.2026 10:00–11:00",
        "Fr 18.12.2026 10:00–11:00",
        "Mo 28.12.2026 10:00–11:00",
    ]


def test_reihe_neu_with_a_quoted_name_and_a_start_day(room: Room) -> None:
    reply = room.mod(
        'reihe neu "Präventionsteam Nord" regel="alle 2 Wochen Di" zeit=14:00-15:30 ab=05.01.2027'
    )
    assert reply.startswith("🔁 Reihe Präventionsteam Nord angelegt"), reply
    sessions = room.sessions()
    assert [local(s.starts_at)[0] for s in sessions[:3]] == [
        d("05.01.2027"),
        d("19.01.2027"),
        d("02.02.2027"),
    ]
    assert {s.name for s in sessions} == {"Präventionsteam Nord"}
    assert {s.ends_at - s.starts_at for s in sessions} == {timedelta(minutes=90)}


@pytest.mark.parametrize(
    ("sender", "power_level"),
    [(ADMIN, 0), (JC, 50)],
    ids=["admin", "power-level"],
)
def test_reihe_neu_for_admins_and_by_power_level(
    room: Room, sender: UserId, power_level: int
) -> None:
    reply = room.say(sender, MONTHLY, power_level=power_level)
    assert reply.startswith("🔁 Reihe"), reply
    assert len(room.sessions()) == 6


@pytest.mark.parametrize(
    ("sender", "expected"),
    [
        (JA1, f"„{PREFIX} reihe neu“ ist der Rolle „moderation“ vorbehalten."),
        (JC, f"„{PREFIX} reihe neu“ ist der Rolle „moderation“ vorbehalten."),
        (NOBODY, "keiner Institution zugeordnet"),
    ],
    ids=["jugendamt", "jobcenter", "nobody"],
)
def test_only_moderation_creates_a_series(room: Room, sender: UserId, expected: str) -> None:
    before = room.snapshot()
    reply = room.say(sender, MONTHLY)
    assert reply.startswith("⚠️ "), reply
    assert expected in reply
    assert room.snapshot() == before
    assert room.last_inbox_outcome() == "user_error"


BAD_SERIES = [
    ('regel="jeden Tag" zeit=10:00-12:00', "Regel nicht erkannt. Beispiele: „jeden 2. Mittwoch"),
    ('regel="jeden 7. Mittwoch" zeit=10:00-12:00', "Regel nicht erkannt"),
    ("regel=FREQ=HOURLY zeit=10:00-12:00", "Sitzungen wiederholen sich höchstens täglich."),
    ("regel=FREQ=MONATLICH zeit=10:00-12:00", "Ungültige RRULE"),
    ("zeit=10:00-12:00", "Es fehlt die Angabe <regel>."),
    ('regel="jeden Mittwoch"', "Es fehlt die Angabe <zeit>."),
    ('regel="jeden Mittwoch" zeit=10-12', "zeit bitte als Beginn–Ende angeben"),
    ('regel="jeden Mittwoch" zeit=10:00', "zeit bitte als Beginn–Ende angeben"),
    ('regel="jeden Mittwoch" zeit=12:00-10:00', "Das Ende muss nach dem Beginn liegen"),
    ('regel="jeden Mittwoch" zeit=10:00-10:00', "Das Ende muss nach dem Beginn liegen"),
    ('regel="jeden Mittwoch" zeit=24:00-25:00', "Diese Uhrzeit gibt es nicht."),
    ('regel="jeden Mittwoch" zeit=10:00-12:00 plätze=0', "plätze muss zwischen 1 und 50 liegen."),
    ('regel="jeden Mittwoch" zeit=10:00-12:00 plätze=51', "plätze muss zwischen 1 und 50"),
    ('regel="jeden Mittwoch" zeit=10:00-12:00 plätze=-2', "plätze muss zwischen 1 und 50"),
    ('regel="jeden Mittwoch" zeit=10:00-12:00 plätze=sechs', "Ungültige Angabe für <plätze>"),
    ('regel="jeden Mittwoch" zeit=10:00-12:00 minuten=0', "minuten muss zwischen 1 und 240"),
    ('regel="jeden Mittwoch" zeit=10:00-12:00 feiertage=egal', "erlaubt sind auslassen"),
    ('regel="jeden Mittwoch" zeit=10:00-12:00 ab=31.02.2027', "gibt es nicht"),
    ('regel="jeden Mittwoch" zeit=10:00-12:00 farbe=blau', "Unbekannte Option"),
]


@pytest.mark.parametrize(("args", "expected"), BAD_SERIES)
def test_reihe_neu_with_bad_input_explains_and_writes_nothing(
    room: Room, args: str, expected: str
) -> None:
    before = room.snapshot()
    reply = room.mod(f"reihe neu Team {args}")
    assert reply.startswith("⚠️ "), reply
    assert expected in reply, reply
    assert_usage(reply, "reihe neu")
    assert room.snapshot() == before
    assert room.last_inbox_outcome() == "user_error"


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        ('regel="jeden Mittwoch" zeit=10:00-12:00', "Es fehlt die Angabe <name>."),
        ("x" * 81 + ' regel="jeden Mittwoch" zeit=10:00-12:00', "Der Name ist zu lang"),
    ],
    ids=["no-name", "long-name"],
)
def test_reihe_neu_needs_a_short_name(room: Room, args: str, expected: str) -> None:
    before = room.snapshot()
    reply = room.mod(f"reihe neu {args}")
    assert expected in reply, reply
    assert_usage(reply, "reihe neu")
    assert room.snapshot() == before


# -- termin neu -------------------------------------------------------------------------------


def test_termin_neu_understands_german_input(room: Room) -> None:
    reply = room.mod("termin neu morgen 9 Uhr dauer=60 plätze=2")

    [session] = room.sessions()
    assert (
        reply
        == f"📅 Termin angelegt: #{session.id} Di 24.11.2026 09:00–10:00 Fallkonferenz – 0/2 Fälle"
    )
    assert (session.starts_at, session.ends_at) == (
        utc("24.11.2026", "08:00"),
        utc("24.11.2026", "09:00"),
    )
    assert (session.series_id, session.original_day, session.capacity) == (None, None, 2)
    assert (session.slot_minutes, session.state, session.sequence) == (20, "geplant", 0)
    [entry] = room.audit()
    assert (entry.action, entry.actor, entry.detail) == (
        "termin_angelegt",
        MOD,
        {"termin": session.id},
    )


@pytest.mark.parametrize(
    ("when", "starts", "minutes", "capacity", "slot"),
    [
        ("25.11.2026 14:30", utc("25.11.2026", "13:30"), 120, 6, 20),
        ("15.06.2027 14:30 minuten=25", utc("15.06.2027", "12:30"), 120, 6, 25),
        ("Mi 10:00 plaetze=3", utc("25.11.2026", "09:00"), 120, 3, 20),
        ("übermorgen 8:15 dauer=45", utc("25.11.2026", "07:15"), 45, 6, 20),
        ("29.03.2027 03:30", utc("29.03.2027", "01:30"), 120, 6, 20),
    ],
)
def test_termin_neu_times_are_berlin_wall_clock(
    room: Room, when: str, starts: datetime, minutes: int, capacity: int, slot: int
) -> None:
    room.mod(f"termin neu {when}")
    [session] = room.sessions()
    assert session.starts_at == starts
    assert session.ends_at - session.starts_at == timedelta(minutes=minutes)
    assert (session.capacity, session.slot_minutes) == (capacity, slot)


BAD_ADHOC = [
    ("heute 9 Uhr", "Der Termin liegt in der Vergangenheit."),
    ("23.11.2026 10:00", "Der Termin liegt in der Vergangenheit."),
    ("28.03.2027 02:30", "02:30 Uhr gibt es am 28.03.2027 wegen der Zeitumstellung nicht"),
    ("31.10.2027 02:30", "02:30 Uhr gibt es am 31.10.2027 wegen der Zeitumstellung zweimal"),
    ("morgen", "Bitte auch eine Uhrzeit angeben"),
    ("31.02. 10:00", "gibt es nicht"),
    ("morgen 25:00", "gibt es nicht"),
    ("morgen 14.30", "Datum nicht erkannt"),
    ("morgen 9 Uhr dauer=0", "dauer muss eine Zahl zwischen 1 und 600 sein."),
    ("morgen 9 Uhr plätze=51", "plätze muss eine Zahl zwischen 1 und 50 sein."),
    ("morgen 9 Uhr minuten=viel", "minuten muss eine Zahl zwischen 1 und 240 sein."),
    ("morgen 9 Uhr farbe=rot", "Erlaubte Optionen: dauer=, plätze=, minuten=."),
    ("", "Es fehlt die Angabe <wann>."),
]


@pytest.mark.parametrize(("when", "expected"), BAD_ADHOC)
def test_termin_neu_refuses_bad_times_and_writes_nothing(
    room: Room, when: str, expected: str
) -> None:
    before = room.snapshot()
    reply = room.mod(f"termin neu {when}".strip())
    assert reply.startswith("⚠️ "), reply
    assert expected in reply, reply
    assert_usage(reply, "termin neu")
    assert room.snapshot() == before
    assert room.last_inbox_outcome() == "user_error"


# -- placement --------------------------------------------------------------------------------


def test_ready_requests_go_into_the_next_session_with_room(room: Room) -> None:
    first = room.adhoc("morgen 9 Uhr plätze=2")
    second = room.adhoc("25.11.2026 14:30 plätze=2")

    a, ra, reply_a = room.ready_case()
    b, rb, reply_b = room.ready_case(sender=AA)
    c, rc, reply_c = room.ready_case(sender=JA2)

    assert placed_line(ra, a, first, "Di 24.11.2026 09:00") in reply_a
    assert placed_line(rb, b, first, "Di 24.11.2026 09:00") in reply_b
    assert placed_line(rc, c, second, "Mi 25.11.2026 14:30") in reply_c
    assert room.placements() == {ra: first, rb: first, rc: second}
    assert room.agenda_ids(first) == [ra, rb]
    assert room.placement_audit() == [
        ("agenda_eingeplant", ra, first),
        ("agenda_eingeplant", rb, first),
        ("agenda_eingeplant", rc, second),
    ]
    assert [e.pseudonym for e in room.audit() if e.action == "agenda_eingeplant"] == [a, b, c]
    assert items_after(room.say(JA1, "termine"), "Nächste Termine") == [
        f"#{first} Di 24.11.2026 09:00–11:00 Fallkonferenz – 2/2 Fälle",
        f"#{second} Mi 25.11.2026 14:30–16:30 Fallkonferenz – 1/2 Fälle",
    ]
    room.check_placements_audited()


def test_a_new_series_places_waiting_ready_requests(room: Room) -> None:
    a, ra, reply = room.ready_case()
    assert "eingeplant" not in reply
    assert room.placements() == {}

    reply = room.mod(MONTHLY + " plätze=6")

    [first, *_] = room.sessions()
    assert placed_line(ra, a, first.id, "Mi 09.12.2026 10:00") in reply
    assert room.placements() == {ra: first.id}
    assert items_after(reply, "Nächste Termine:")[0].endswith("– 1/6 Fälle")
    room.check_placements_audited()


def test_when_nothing_fits_einplanen_names_the_request_and_the_reason(room: Room) -> None:
    a, ra, _ = room.ready_case()
    assert room.mod("einplanen") == "Einplanung\n\n" + unplaced_line(ra, a, "kein Termin")

    session = room.adhoc("morgen 9 Uhr plätze=1")
    assert room.placements() == {ra: session}
    b, rb, reply = room.ready_case()
    assert "eingeplant" not in reply
    # Said once, in the room, where moderation reads it – not at every later command.
    assert unplaced_line(rb, b, "alle Termine bis zum spätesten Datum sind voll") in reply
    assert "passt in keinen Termin" not in room.consent(b, "jugendamt,jobcenter,agentur")

    before = room.snapshot()
    reply = room.mod("einplanen")
    assert reply == "Einplanung\n\n" + unplaced_line(
        rb, b, "alle Termine bis zum spätesten Datum sind voll"
    )
    assert room.snapshot() == before  # reporting writes nothing

    second = room.adhoc("morgen 11:00 plätze=1")
    assert room.placements() == {ra: session, rb: second}
    assert room.mod("einplanen") == (
        "Einplanung\n\nNichts zu ändern: alle bereiten Anfragen sind eingeplant."
    )
    room.check_placements_audited()


def test_urgent_requests_are_placed_before_regular_ones(room: Room) -> None:
    r1 = room.ready_case(urgency="regulär")
    u1 = room.ready_case(urgency="dringend")
    r2 = room.ready_case(urgency="regulär")
    u2 = room.ready_case(urgency="dringend")
    assert room.placements() == {}

    reply = room.mod("termin neu morgen 9 Uhr plätze=3")

    [session] = [s.id for s in room.sessions()]
    assert room.agenda_ids(session) == [u1[1], u2[1], r1[1]]
    assert unplaced_line(r2[1], r2[0], "alle Termine bis zum spätesten Datum sind voll") in reply
    for pseudonym, request_id, _ in (u1, u2, r1):
        assert placed_line(request_id, pseudonym, session, "Di 24.11.2026 09:00") in reply

    later = room.adhoc("morgen 14:00 plätze=3")
    assert room.placements()[r2[1]] == later
    room.check_placements_audited()


def test_a_latest_date_before_every_session_is_reported_unplaced(room: Room) -> None:
    room.mod(MONTHLY)  # first session: Mi 09.12.2026
    december = room.sessions()[0].id
    late, r_late, reply = room.ready_case(extra="bis=01.12.2026")
    assert "spätestens 01.12.2026" in reply
    _, r_on_time, _ = room.ready_case(extra="bis=09.12.2026")  # the day itself counts
    assert room.placements() == {r_on_time: december}

    assert unplaced_line(r_late, late, "kein Termin vor dem spätesten Datum") in room.mod(
        "einplanen"
    )

    reply = room.mod("termin neu 30.11.2026 10:00")
    extra = next(s.id for s in room.sessions() if local(s.starts_at)[0] == d("30.11.2026"))
    assert placed_line(r_late, late, extra, "Mo 30.11.2026 10:00") in reply
    assert room.placements() == {r_on_time: december, r_late: extra}
    room.check_placements_audited()


def test_a_consent_expiring_before_a_session_is_placed_before_it(room: Room) -> None:
    december = room.adhoc("16.12.2026 10:00 plätze=1")
    january = room.adhoc("13.01.2027 10:00")
    _, r_full, _ = room.ready_case()  # takes the only place in December

    short, r_short, reply = room.ready_case(consent_extra="bis=31.12.2026")
    assert "eingeplant" not in reply
    assert r_short not in room.placements()  # January has room, but the consent ends before
    assert unplaced_line(
        r_short, short, "die Einwilligung deckt keinen freien Termin ab"
    ) in room.mod("einplanen")

    _, r_open, _ = room.ready_case()  # the same request with open-ended consent goes to January
    assert room.placements() == {r_full: december, r_open: january}

    reply = room.mod("termin neu 18.12.2026 10:00")
    extra = max(s.id for s in room.sessions())
    assert placed_line(r_short, short, extra, "Fr 18.12.2026 10:00") in reply
    assert room.placements() == {r_full: december, r_open: january, r_short: extra}
    room.check_placements_audited()


def test_widerruf_takes_the_case_off_the_future_agenda_at_once(room: Room) -> None:
    session = room.adhoc("morgen 9 Uhr")
    a, ra, _ = room.ready_case(participants="jugendamt")
    b, rb, _ = room.ready_case(participants="jugendamt")
    assert room.agenda_ids(session) == [ra, rb]

    # Revoking an institution that does not take part changes nothing.
    reply = room.say(JA1, f"widerruf {a} agentur")
    assert "🗓️" not in reply
    assert room.agenda_ids(session) == [ra, rb]

    reply = room.say(JA1, f"widerruf {a}")

    assert reply.startswith(f"🛑 Widerruf für {a} erfasst (alle Institutionen)")
    assert removed_line(ra, a, session, "Di 24.11.2026 09:00") in reply
    assert room.placements() == {rb: session}
    assert room.actions(a)[-3:] == ["widerruf_erfasst", "anfrage_wartet", "agenda_entfernt"]
    removal = room.audit(a)[-1]
    assert (removal.actor, removal.detail) == (JA1, {"anfrage": ra, "termin": session})
    agenda = room.say(JC, "agenda")
    assert a not in agenda
    assert items_after(agenda, "Tagesordnung")[0].startswith(f"09:00 {b} – ")

    # A new consent (given today, after the revocation) puts it back.
    reply = room.consent(a, "jugendamt,jobcenter")
    assert "eingeplant" not in reply  # given 20.11., before the revocation: still revoked
    reply = room.say(
        JA1,
        f"einwilligung {a} von=sorgeberechtigte an=jugendamt,jobcenter form=schriftlich "
        "datum=heute dok=EW-18",
    )
    assert placed_line(ra, a, session, "Di 24.11.2026 09:00") in reply
    assert room.agenda_ids(session) == [rb, ra]
    room.check_placements_audited()


def test_a_confirmed_schutzauftrag_is_placed_and_marked(room: Room) -> None:
    session = room.adhoc("morgen 9 Uhr")
    protected = room.new_case()
    r_protected, reply = room.request(protected, "jugendamt", topic="Kinderschutz")
    assert "wartet auf Einwilligung" in reply
    assert room.placements() == {}

    room.say(JA1, f"schutzauftrag {protected} grund=kw-gefaehrdung")
    assert room.placements() == {}  # opened, not yet confirmed
    reply = room.say(JA2, f"schutzauftrag bestätigen {protected}")

    assert f"✅ Anfrage #{r_protected} ist jetzt bereit (Schutzauftrag § 8a)." in reply
    assert placed_line(r_protected, protected, session, "Di 24.11.2026 09:00") in reply
    consented, r_consented, _ = room.ready_case()
    assert items_after(room.say(AA, f"agenda {session}"), "Tagesordnung") == [
        f"09:00 {protected} – Kinderschutz, angefragt von {JOBCENTER}; "
        f"Teilnehmende: {JOBCENTER}, {JUGENDAMT} · § 8a SGB VIII",
        f"09:20 {consented} – Ausbildung, angefragt von {JOBCENTER}; "
        f"Teilnehmende: {JOBCENTER}, {JUGENDAMT}",
    ]
    assert room.actions(protected)[-3:] == [
        "schutzauftrag_bestaetigt",
        "anfrage_bereit",
        "agenda_eingeplant",
    ]

    reply = room.say(JA1, f"schutzauftrag beenden {protected}")
    assert removed_line(r_protected, protected, session, "Di 24.11.2026 09:00") in reply
    assert room.placements() == {r_consented: session}
    room.check_placements_audited()


# -- termin absagen / verschieben -------------------------------------------------------------


def test_termin_absagen_moves_its_cases_to_the_next_session(room: Room) -> None:
    first = room.adhoc("morgen 9 Uhr plätze=2")
    second = room.adhoc("25.11.2026 14:30 plätze=2")
    a, ra, _ = room.ready_case()
    b, rb, _ = room.ready_case()
    assert room.agenda_ids(first) == [ra, rb]
    before = len(room.audit())

    reply = room.mod(f"termin absagen {first}")

    assert reply.startswith(f"❌ Termin #{first} am Di 24.11.2026 09:00 abgesagt.")
    assert placed_line(ra, a, second, "Mi 25.11.2026 14:30") in reply
    assert placed_line(rb, b, second, "Mi 25.11.2026 14:30") in reply
    cancelled = room.session(first)
    assert (cancelled.state, cancelled.sequence) == ("abgesagt", 1)
    assert room.session(second).sequence == 0
    assert room.agenda_ids(second) == [ra, rb]
    assert room.agenda_ids(first) == []
    assert [(e.action, e.detail) for e in room.audit()[before:]] == [
        ("agenda_entfernt", {"anfrage": ra, "termin": first}),
        ("agenda_entfernt", {"anfrage": rb, "termin": first}),
        ("termin_abgesagt", {"termin": first}),
        ("agenda_eingeplant", {"anfrage": ra, "termin": second}),
        ("agenda_eingeplant", {"anfrage": rb, "termin": second}),
    ]
    assert f"#{first} " not in room.say(JC, "termine")
    room.check_placements_audited()

    # A cancelled session is gone for every command.
    after = room.snapshot()
    for command in (f"termin absagen {first}", f"termin verschieben {first} 10.12.2026 10:00"):
        refused = room.mod(command)
        assert refused.startswith("⚠️ Diesen Termin gibt es nicht (mehr)."), refused
    assert room.say(JC, f"agenda {first}").startswith("⚠️ Diesen Termin gibt es nicht (mehr).")
    assert room.snapshot() == after


def test_a_cancelled_series_occurrence_stays_cancelled(room: Room) -> None:
    room.mod(MONTHLY)
    december = room.sessions()[0]
    room.mod(f"termin absagen {december.id}")
    room.say(JC, "termine")
    room.mod("einplanen")
    again = [s for s in room.sessions() if s.original_day == december.original_day]
    assert [(s.id, s.state, s.sequence) for s in again] == [(december.id, "abgesagt", 1)]
    assert len(room.sessions()) == 6


def test_termin_verschieben_sets_the_new_time_and_drops_what_the_gate_refuses(
    room: Room,
) -> None:
    session = room.adhoc("09.12.2026 10:00")
    short, r_short, _ = room.ready_case(consent_extra="bis=31.12.2026")
    long, r_long, _ = room.ready_case()
    assert room.agenda_ids(session) == [r_short, r_long]
    before = len(room.audit())

    reply = room.mod(f"termin verschieben {session} 13.01.2027 14:00")

    assert reply.startswith(
        f"📅 Termin #{session} verschoben: Mi 09.12.2026 10:00 → Mi 13.01.2027 14:00."
    )
    moved = room.session(session)
    assert (moved.starts_at, moved.ends_at, moved.sequence) == (
        utc("13.01.2027", "13:00"),
        utc("13.01.2027", "15:00"),
        1,
    )
    assert removed_line(r_short, short, session, "Mi 13.01.2027 14:00") in reply
    assert unplaced_line(r_short, short, "die Einwilligung deckt keinen freien Termin ab") in reply
    assert room.placements() == {r_long: session}
    assert [(e.action, e.detail) for e in room.audit()[before:]] == [
        ("termin_verschoben", {"termin": session}),
        ("agenda_entfernt", {"anfrage": r_short, "termin": session}),
    ]
    assert long in room.say(JC, "agenda")
    room.check_placements_audited()


def test_termin_verschieben_keeps_the_wall_clock_time_across_the_clock_change(
    room: Room,
) -> None:
    session = room.adhoc("09.12.2026 10:00")
    reply = room.mod(f"termin verschieben {session} 14.04.2027")
    assert "→ Mi 14.04.2027 10:00." in reply
    assert room.session(session).starts_at == utc("14.04.2027", "08:00")
    room.mod(f"termin verschieben {session} Do 11:30")
    moved = room.session(session)
    assert (moved.starts_at, moved.sequence) == (utc("26.11.2026", "10:30"), 2)
    assert moved.ends_at - moved.starts_at == timedelta(hours=2)


def test_a_session_moved_past_a_latest_date_drops_that_request(room: Room) -> None:
    session = room.adhoc("09.12.2026 10:00")
    urgent, r_urgent, _ = room.ready_case(extra="bis=10.12.2026")
    _, r_relaxed, _ = room.ready_case()

    reply = room.mod(f"termin verschieben {session} 14.12.2026")

    assert removed_line(r_urgent, urgent, session, "Mo 14.12.2026 10:00") in reply
    assert unplaced_line(r_urgent, urgent, "kein Termin vor dem spätesten Datum") in reply
    assert room.placements() == {r_relaxed: session}
    room.check_placements_audited()


@pytest.mark.parametrize(
    ("command", "expected"),
    [
        ("termin verschieben {s} heute 9 Uhr", "Der neue Zeitpunkt liegt in der Vergangenheit."),
        ("termin verschieben {s} 28.03.2027 02:30", "wegen der Zeitumstellung nicht"),
        ("termin verschieben {s} 31.02.", "gibt es nicht"),
        ("termin verschieben {s}", "Es fehlt die Angabe <wann>."),
        ("termin verschieben 999 10.12.2026 10:00", "Diesen Termin gibt es nicht (mehr)."),
        ("termin verschieben elf 10.12.2026 10:00", "Ungültige Angabe für <nr>"),
        ("termin absagen 999", "Diesen Termin gibt es nicht (mehr)."),
        ("termin absagen", "Es fehlt die Angabe <nr>."),
        ("termin absagen {s} {s}", "Zu viele Angaben."),
    ],
)
def test_bad_absagen_and_verschieben_change_nothing(
    room: Room, command: str, expected: str
) -> None:
    session = room.adhoc("09.12.2026 10:00")
    room.ready_case()
    before = room.snapshot()
    reply = room.mod(command.format(s=session))
    assert reply.startswith("⚠️ "), reply
    assert expected in reply, reply
    assert room.snapshot() == before
    assert room.last_inbox_outcome() == "user_error"


# -- agenda and termine -----------------------------------------------------------------------


def test_agenda_shows_pseudonyms_topics_institutions_and_slot_times_only(room: Room) -> None:
    session = room.adhoc("15.06.2027 14:30 minuten=25 plätze=3")
    first, _, _ = room.ready_case(sender=JC, participants="jugendamt")
    second, _, _ = room.ready_case(sender=AA, topic="Familie", participants="jugendamt,jobcenter")
    third, _, _ = room.ready_case(sender=JA2, topic="Kinderschutz", participants="agentur")

    reply = room.say(JA1, "agenda")

    assert reply.startswith(
        f"📋 Tagesordnung Fallkonferenz – Termin #{session}, Di 15.06.2027 14:30–16:30\n\n"
    ), reply
    assert reply == room.say(JC, f"agenda {session}")
    assert items_after(reply, "Tagesordnung") == [
        f"14:30 {first} – Ausbildung, angefragt von {JOBCENTER}; "
        f"Teilnehmende: {JOBCENTER}, {JUGENDAMT}",
        f"14:55 {second} – Familie, angefragt von {AGENTUR}; "
        f"Teilnehmende: {AGENTUR}, {JOBCENTER}, {JUGENDAMT}",
        f"15:20 {third} – Kinderschutz, angefragt von {JUGENDAMT}; "
        f"Teilnehmende: {AGENTUR}, {JUGENDAMT}",
    ]
    assert "@" not in reply
    for user in USERS:
        assert user.split(":")[0].lstrip("@") not in reply
    assert "EW-17" not in reply  # nothing of the consent
    assert "sorgeberechtigte" not in reply


def test_agenda_of_an_empty_or_missing_session(room: Room) -> None:
    reply = room.say(JC, "agenda")
    assert reply == f"⚠️ Es gibt keinen künftigen Termin. Anlegen: {PREFIX} termin neu …"
    session = room.adhoc("morgen 9 Uhr")
    assert room.say(JC, "agenda") == (
        f"📋 Tagesordnung Fallkonferenz – Termin #{session}, Di 24.11.2026 09:00–11:00"
        "\n\nNoch keine Fälle eingeplant."
    )
    assert room.say(JC, f"agenda {session + 1}").startswith("⚠️ Diesen Termin gibt es nicht (mehr).")


def test_termine_lists_the_next_sessions_with_taken_places(room: Room) -> None:
    assert room.say(JC, "termine") == (
        f"Nächste Termine\n\nKeine Termine geplant. Anlegen: `{PREFIX} termin neu …`"
    )
    room.mod(MONTHLY + " plätze=2")
    adhoc = room.adhoc("morgen 9 Uhr dauer=30 plätze=1")
    room.ready_case()
    room.ready_case()
    room.ready_case()

    lines = items_after(room.say(AA, "termine"), "Nächste Termine")
    sessions = room.sessions()
    assert lines[:3] == [
        f"#{adhoc} Di 24.11.2026 09:00–09:30 Fallkonferenz – 1/1 Fall",
        f"#{sessions[1].id} Mi 09.12.2026 10:00–12:00 Schnittstellengespräch – 2/2 Fälle",
        f"#{sessions[2].id} Mi 13.01.2027 10:00–12:00 Schnittstellengespräch – 0/2 Fälle",
    ]
    assert len(lines) == 7


# -- refusals and privacy ---------------------------------------------------------------------

REFUSALS = [
    (JA1, 'reihe neu X regel="jeden Freitag" zeit=10:00-11:00', "vorbehalten"),
    (MOD, 'reihe neu X regel="jeden Tag" zeit=10:00-11:00', "Regel nicht erkannt"),
    (JC, "termin neu morgen 9 Uhr", "vorbehalten"),
    (NOBODY, "termin neu morgen 9 Uhr", "keiner Institution zugeordnet"),
    (MOD, "termin neu heute 9 Uhr", "Vergangenheit"),
    (JA1, "termin absagen {s}", "vorbehalten"),
    (JA1, "termin verschieben {s} 10.12.2026 10:00", "vorbehalten"),
    (MOD, "termin verschieben {s} heute 9 Uhr", "Vergangenheit"),
    (JC, "einplanen", "vorbehalten"),
    (NOBODY, "agenda", "keiner Institution zugeordnet"),
]


@pytest.mark.parametrize(
    ("sender", "template", "expected"),
    REFUSALS,
    ids=[f"{i:02d}-{t.split()[0]}" for i, (_, t, _) in enumerate(REFUSALS)],
)
def test_a_refused_command_leaves_no_rows_and_no_audit_entry(
    room: Room, sender: UserId, template: str, expected: str
) -> None:
    session = room.adhoc("09.12.2026 10:00 plätze=1")
    room.ready_case()
    room.ready_case()  # waits for a place: a replan would place it if one appeared
    before = room.snapshot()

    reply = room.say(sender, template.format(s=session))

    assert reply.startswith("⚠️ "), reply
    assert expected in reply, reply
    assert room.snapshot() == before
    assert room.last_inbox_outcome() == "user_error"


@pytest.mark.parametrize(
    "template",
    [
        "termin absagen {s}",
        "termin verschieben {s} 10.12.2026 10:00",
        "termin neu 08.12.2026 10:00",
        'reihe neu Team regel="jeden Montag" zeit=10:00-11:00',
        "einplanen",
        "agenda {s}",
    ],
)
def test_no_pseudonym_is_posted_into_an_unencrypted_room(room: Room, template: str) -> None:
    session = room.adhoc("09.12.2026 10:00 plätze=1")
    placed, _, _ = room.ready_case()
    waiting, _, _ = room.ready_case()
    before = room.snapshot()

    reply = room.say(MOD, template.format(s=session), encrypted=False)

    assert placed not in reply, reply
    assert waiting not in reply, reply
    assert "nicht verschlüsselt" in reply, reply
    assert room.snapshot() == before


def test_termine_works_in_an_unencrypted_room_without_case_data(room: Room) -> None:
    session = room.adhoc("09.12.2026 10:00")
    placed, _, _ = room.ready_case()
    reply = room.say(JC, "termine", encrypted=False)
    assert f"#{session} Mi 09.12.2026 10:00–12:00 Fallkonferenz – 1/6 Fälle" in reply
    assert placed not in reply
