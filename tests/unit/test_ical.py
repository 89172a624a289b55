"""Session invitations as iCalendar, read back by two independent parsers.

icalendar (which wrote them) and vobject (which did not) must both get back the
method, the session's identity, the instants and the Berlin wall-clock times; and
the VTIMEZONE in the message must by itself give the right offsets, without the
reader's own time-zone database.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from datetime import UTC, date, datetime, timedelta, timezone
from typing import Any, NamedTuple
from zoneinfo import ZoneInfo

import pytest
import vobject  # type: ignore[import-untyped]
from hypothesis import example, given, settings
from hypothesis import strategies as st
from icalendar import Calendar, Event, Timezone

from commands.ical import CalendarEntry, render_ics

BERLIN = ZoneInfo("Europe/Berlin")
CET, CEST = timedelta(hours=1), timedelta(hours=2)
ORGANIZER = "matrix:u/fkbot:example.org"
ROOM = ("matrix:roomid/abc:example.org", "Fallkonferenz Nord")
STAMP = datetime(2026, 11, 21, 9, 15, 30, tzinfo=UTC)
UID = "termin-12@fallkonferenz.example.org"
AGENDA = "Tagesordnung:\n10:00 FK-7QX2-M6 – Schulabsentismus\n10:20 FK-9KP4-T1 – Übergang"
SUMMER = datetime(2027, 7, 14, 8, 0, tzinfo=UTC)  # 10:00 CEST

BASE = CalendarEntry(
    uid=UID,
    sequence=0,
    summary="Schnittstellengespräch",
    starts_at=SUMMER,
    ends_at=SUMMER + timedelta(hours=2),
    description=AGENDA,
    cancelled=False,
)


def entry(**changes: Any) -> CalendarEntry:
    return dataclasses.replace(BASE, **changes)


def at(instant: datetime, hours: float = 2) -> CalendarEntry:
    return entry(starts_at=instant, ends_at=instant + timedelta(hours=hours))


def render(
    session: CalendarEntry = BASE,
    *,
    attendees: Sequence[tuple[str, str]] = (ROOM,),
    stamp: datetime = STAMP,
) -> bytes:
    return render_ics(session, organizer=ORGANIZER, attendees=attendees, stamp=stamp)


def read_icalendar(data: bytes) -> tuple[Calendar, Event]:
    calendar = Calendar.from_ical(data)
    assert isinstance(calendar, Calendar)
    (event,) = calendar.events
    return calendar, event


def read_vobject(data: bytes) -> Any:
    calendar = vobject.readOne(data.decode("utf-8"))
    assert len(calendar.vevent_list) == 1
    return calendar


def utc(moment: datetime) -> datetime:
    # Comparing in UTC: Python never calls an aware time in a repeated hour equal
    # to one in another zone, even when they are the same instant.
    return moment.astimezone(UTC)


def unfolded_lines(data: bytes) -> list[str]:
    return data.decode("utf-8").replace("\r\n ", "").split("\r\n")


# --- what the calendar says ---------------------------------------------------------


def test_request_header_and_identity_in_icalendar() -> None:
    calendar, event = read_icalendar(render())
    assert calendar["METHOD"] == "REQUEST"
    assert calendar["VERSION"] == "2.0"
    assert calendar["PRODID"] == "-//fallkonferenz-bot//DE"
    assert calendar["CALSCALE"] == "GREGORIAN"
    assert event["UID"] == UID
    assert event.decoded("SEQUENCE") == 0
    assert event["STATUS"] == "CONFIRMED"
    assert event["SUMMARY"] == "Schnittstellengespräch"
    assert "LOCATION" not in event
    stamp = event.decoded("DTSTAMP")
    assert stamp == STAMP
    assert stamp.utcoffset() == timedelta(0)


def test_request_header_and_identity_in_vobject() -> None:
    calendar = read_vobject(render())
    event = calendar.vevent
    assert calendar.method.value == "REQUEST"
    assert calendar.version.value == "2.0"
    assert calendar.prodid.value == "-//fallkonferenz-bot//DE"
    assert calendar.calscale.value == "GREGORIAN"
    assert event.uid.value == UID
    assert int(event.sequence.value) == 0
    assert event.status.value == "CONFIRMED"
    assert event.summary.value == "Schnittstellengespräch"
    assert "location" not in event.contents
    assert event.dtstamp.value == STAMP
    assert event.dtstamp.value.utcoffset() == timedelta(0)


def test_dtstamp_is_written_in_utc_whatever_zone_the_stamp_has() -> None:
    stamp = datetime(2026, 11, 21, 10, 15, 30, tzinfo=BERLIN)  # 09:15:30 UTC
    lines = unfolded_lines(render(stamp=stamp))
    assert "DTSTAMP:20261121T091530Z" in lines
    assert read_vobject(render(stamp=stamp)).vevent.dtstamp.value == STAMP


def test_location_round_trips_when_given() -> None:
    place = "Rathaus, Raum 3; 2. OG – Süd"
    data = render(entry(location=place))
    assert "LOCATION:Rathaus\\, Raum 3\\; 2. OG – Süd" in unfolded_lines(data)
    assert read_icalendar(data)[1]["LOCATION"] == place
    assert read_vobject(data).vevent.location.value == place


# --- start and end: instant, Berlin wall clock, VTIMEZONE ---------------------------

TIMES = [
    pytest.param(SUMMER, datetime(2027, 7, 14, 10, 0), CEST, id="summer-CEST"),
    pytest.param(
        datetime(2026, 12, 9, 9, 0, tzinfo=UTC), datetime(2026, 12, 9, 10, 0), CET, id="winter-CET"
    ),
    pytest.param(
        datetime(2027, 3, 28, 1, 30, tzinfo=UTC),
        datetime(2027, 3, 28, 3, 30),
        CEST,
        id="spring-forward-day",
    ),
]


@pytest.mark.parametrize(("instant", "wall", "offset"), TIMES)
def test_start_and_end_are_berlin_wall_clock_with_tzid(
    instant: datetime, wall: datetime, offset: timedelta
) -> None:
    lines = unfolded_lines(render(at(instant)))
    assert f"DTSTART;TZID=Europe/Berlin:{wall:%Y%m%dT%H%M%S}" in lines
    assert f"DTEND;TZID=Europe/Berlin:{wall + timedelta(hours=2):%Y%m%dT%H%M%S}" in lines


@pytest.mark.parametrize(("instant", "wall", "offset"), TIMES)
def test_icalendar_reads_the_instant_and_the_wall_clock(
    instant: datetime, wall: datetime, offset: timedelta
) -> None:
    calendar, event = read_icalendar(render(at(instant)))
    for name, expected_instant, expected_wall in [
        ("DTSTART", instant, wall),
        ("DTEND", instant + timedelta(hours=2), wall + timedelta(hours=2)),
    ]:
        value = event.decoded(name)
        assert utc(value) == expected_instant
        assert value.replace(tzinfo=None) == expected_wall
        assert value.utcoffset() == offset
        assert str(value.tzinfo) == "Europe/Berlin"
        # icalendar knows the TZID from zoneinfo; the VTIMEZONE of the message alone
        # must give the same offset.
        own_zone = calendar.timezones[0].to_tz(lookup_tzid=False)
        assert expected_wall.replace(tzinfo=own_zone).utcoffset() == offset


@pytest.mark.parametrize(("instant", "wall", "offset"), TIMES)
def test_vobject_reads_the_instant_and_the_wall_clock(
    instant: datetime, wall: datetime, offset: timedelta
) -> None:
    calendar = read_vobject(render(at(instant)))
    own_zone = calendar.vtimezone.gettzinfo()  # dateutil, from this message's VTIMEZONE
    for line, expected_instant, expected_wall in [
        (calendar.vevent.dtstart, instant, wall),
        (calendar.vevent.dtend, instant + timedelta(hours=2), wall + timedelta(hours=2)),
    ]:
        assert utc(line.value) == expected_instant
        assert line.value.replace(tzinfo=None) == expected_wall
        assert line.value.utcoffset() == offset
        assert expected_wall.replace(tzinfo=own_zone).utcoffset() == offset


class Onset(NamedTuple):
    kind: str  # STANDARD or DAYLIGHT
    at: datetime  # local time, as written
    offset_from: timedelta
    offset_to: timedelta


def onsets_in_icalendar(data: bytes) -> list[Onset]:
    calendar, _ = read_icalendar(data)
    (berlin,) = calendar.timezones
    assert isinstance(berlin, Timezone)
    assert berlin.tz_name == "Europe/Berlin"
    result: list[Onset] = []
    for kind, observances in (("STANDARD", berlin.standard), ("DAYLIGHT", berlin.daylight)):
        for observance in observances:
            for moment in [observance.DTSTART, *(start for start, _ in observance.rdates)]:
                result.append(Onset(kind, moment, observance.TZOFFSETFROM, observance.TZOFFSETTO))
    return sorted(result, key=lambda onset: onset.at)


def _offset(text: str) -> timedelta:
    sign = -1 if text.startswith("-") else 1
    return sign * timedelta(hours=int(text[1:3]), minutes=int(text[3:5]))


def onsets_in_vobject(data: bytes) -> list[Onset]:
    calendar = read_vobject(data)
    (berlin,) = calendar.vtimezone_list
    assert berlin.tzid.value == "Europe/Berlin"
    result: list[Onset] = []
    for kind in ("STANDARD", "DAYLIGHT"):
        for observance in berlin.contents.get(kind.lower(), []):
            written = [observance.dtstart.value] + [
                datetime.strptime(line.value, "%Y%m%dT%H%M%S")
                for line in observance.contents.get("rdate", [])
            ]
            offset_from = _offset(observance.tzoffsetfrom.value)
            offset_to = _offset(observance.tzoffsetto.value)
            result.extend(Onset(kind, moment, offset_from, offset_to) for moment in written)
    return sorted(result, key=lambda onset: onset.at)


def last_sunday(year: int, month: int) -> date:
    day = date(year, month + 1, 1) - timedelta(days=1)
    return day - timedelta(days=(day.weekday() - 6) % 7)


@pytest.mark.parametrize("read", [onsets_in_icalendar, onsets_in_vobject])
@pytest.mark.parametrize(("instant", "wall", "offset"), TIMES)
def test_vtimezone_has_the_rules_for_the_session(
    read: Callable[[bytes], list[Onset]], instant: datetime, wall: datetime, offset: timedelta
) -> None:
    onsets = read(render(at(instant)))
    year = wall.year
    [spring] = [o for o in onsets if o.kind == "DAYLIGHT" and o.at.year == year]
    [autumn] = [
        o for o in onsets if o.kind == "STANDARD" and o.at.year == year and o.offset_from == CEST
    ]
    assert spring.at.date() == last_sunday(year, 3)
    assert (spring.offset_from, spring.offset_to) == (CET, CEST)
    assert autumn.at.date() == last_sunday(year, 10)
    assert (autumn.offset_from, autumn.offset_to) == (CEST, CET)
    # The observance in force at the session is the one with the last onset before it.
    in_force = [o for o in onsets if o.at <= wall][-1]
    assert in_force.offset_to == offset
    assert in_force.kind == ("DAYLIGHT" if offset == CEST else "STANDARD")
    assert onsets[-1].at > wall + timedelta(hours=2)  # the rules reach beyond the end


def test_both_parsers_see_every_transition() -> None:
    data = render()
    from_icalendar = onsets_in_icalendar(data)
    assert from_icalendar == onsets_in_vobject(data)
    # one spring and one autumn transition for every year the session may be in
    years = {o.at.year for o in from_icalendar if o.offset_from != o.offset_to}
    assert set(range(2026, 2031)) <= years


def test_vtimezone_comes_first_and_is_the_same_in_every_message() -> None:
    def vtimezone(data: bytes) -> str:
        text = data.decode("utf-8")
        assert text.count("BEGIN:VTIMEZONE") == 1
        assert text.index("END:VTIMEZONE") < text.index("BEGIN:VEVENT")
        return text[text.index("BEGIN:VTIMEZONE") : text.index("END:VTIMEZONE")]

    summer = vtimezone(render())
    assert "TZID:Europe/Berlin\r\n" in summer
    assert vtimezone(render(at(datetime(2030, 1, 2, 9, tzinfo=UTC)))) == summer


def test_second_pass_through_the_repeated_autumn_hour_is_written_in_utc() -> None:
    # 02:30 CEST (00:30 UTC) to 02:30 CET (01:30 UTC) on 31 October 2027: the same
    # wall-clock time twice; TZID=Europe/Berlin:...T023000 means the first one.
    first = datetime(2027, 10, 31, 0, 30, tzinfo=UTC)
    data = render(at(first, hours=1))
    lines = unfolded_lines(data)
    assert "DTSTART;TZID=Europe/Berlin:20271031T023000" in lines
    assert "DTEND:20271031T013000Z" in lines
    _, event = read_icalendar(data)
    vevent = read_vobject(data).vevent
    for start, end in [
        (event.decoded("DTSTART"), event.decoded("DTEND")),
        (vevent.dtstart.value, vevent.dtend.value),
    ]:
        assert utc(start) == first
        assert utc(end) == first + timedelta(hours=1)


# --- text: escaping, folding, line endings ---------------------------------------

TRICKY = (
    "Tagesordnung:\n"
    "10:00 FK-7QX2-M6 – Schulabsentismus; Übergang, Ausbildung\n"
    "\n"
    "Äußerung: „bitte vorher lesen“, Pfad C:\\Akten\\neu; Ende.\n"
    '  eingerückt, "zitiert"'
)


def test_description_with_newlines_umlauts_commas_and_semicolons_round_trips() -> None:
    data = render(entry(description=TRICKY, summary="Fall; Übergabe, kurz"))
    text = "\n".join(unfolded_lines(data))
    assert "Schulabsentismus\\; Übergang\\, Ausbildung\\n\\nÄußerung" in text
    assert "C:\\\\Akten\\\\neu" in text
    _, event = read_icalendar(data)
    assert event["DESCRIPTION"] == TRICKY
    assert event["SUMMARY"] == "Fall; Übergabe, kurz"
    vevent = read_vobject(data).vevent
    assert vevent.description.value == TRICKY
    assert vevent.summary.value == "Fall; Übergabe, kurz"


def test_long_description_is_folded_at_75_octets_and_round_trips() -> None:
    agenda = "\n".join(
        f"{10 + i // 3}:{i % 3 * 20:02d} FK-7QX{i:02d}-M6 – Kindeswohlgefährdung; "
        "Übergangsmanagement, Schulabsentismus äöüß"
        for i in range(30)
    )
    description = f"Tagesordnung:\n{agenda}\n{'ß' * 150}"
    data = render(entry(description=description))
    physical = data.split(b"\r\n")
    assert max(len(line) for line in physical) <= 75
    continuations = [line for line in physical if line.startswith(b" ")]
    assert len(continuations) > 40
    for line in physical:
        line.decode("utf-8")  # never folded inside a character
    assert read_icalendar(data)[1]["DESCRIPTION"] == description
    assert read_vobject(data).vevent.description.value == description


def test_lines_end_in_crlf_only() -> None:
    data = render(entry(description=TRICKY))
    assert data.startswith(b"BEGIN:VCALENDAR\r\n")
    assert data.endswith(b"END:VCALENDAR\r\n")
    assert data.count(b"\n") == data.count(b"\r\n")
    assert data.count(b"\r") == data.count(b"\r\n")
    assert data.count(b"\r\n") > 20


# --- moved and cancelled sessions ----------------------------------------------------


def test_moved_session_keeps_the_uid_with_a_higher_sequence() -> None:
    new_start = datetime(2027, 7, 15, 11, 0, tzinfo=UTC)  # 13:00 CEST
    original = render()
    moved = render(entry(sequence=1, starts_at=new_start, ends_at=new_start + timedelta(hours=2)))

    (_, before), (_, after) = read_icalendar(original), read_icalendar(moved)
    assert after["UID"] == before["UID"] == UID
    assert after.decoded("SEQUENCE") == 1 > before.decoded("SEQUENCE")
    assert utc(after.decoded("DTSTART")) == new_start
    assert after.decoded("DTSTART").replace(tzinfo=None) == datetime(2027, 7, 15, 13, 0)

    old_v, new_v = read_vobject(original), read_vobject(moved)
    assert new_v.method.value == "REQUEST"
    assert new_v.vevent.uid.value == old_v.vevent.uid.value == UID
    assert int(new_v.vevent.sequence.value) == 1 > int(old_v.vevent.sequence.value)
    assert utc(new_v.vevent.dtstart.value) == new_start
    assert new_v.vevent.dtstart.value.replace(tzinfo=None) == datetime(2027, 7, 15, 13, 0)


def test_cancel_is_method_cancel_with_status_cancelled_and_the_same_uid() -> None:
    data = render(entry(sequence=2, cancelled=True))
    assert "METHOD:CANCEL" in unfolded_lines(data)

    calendar, event = read_icalendar(data)
    assert calendar["METHOD"] == "CANCEL"
    assert event["STATUS"] == "CANCELLED"
    assert event["UID"] == UID
    assert event.decoded("SEQUENCE") == 2
    assert str(event.organizer) == ORGANIZER
    [attendee] = event.attendees
    assert str(attendee) == ROOM[0]
    assert dict(attendee.params) == {
        "CN": ROOM[1],
        "CUTYPE": "GROUP",
        "ROLE": "REQ-PARTICIPANT",
    }

    vcalendar = read_vobject(data)
    assert vcalendar.method.value == "CANCEL"
    assert vcalendar.vevent.status.value == "CANCELLED"
    assert vcalendar.vevent.uid.value == UID
    assert int(vcalendar.vevent.sequence.value) == 2
    assert vcalendar.vevent.attendee.value == ROOM[0]


# --- organizer and attendees ---------------------------------------------------------

TEAM = ("matrix:roomid/xyz:example.org", "Jugendamt Süd, Team 2")


def test_organizer_and_attendees_in_icalendar() -> None:
    _, event = read_icalendar(render(attendees=[ROOM, TEAM]))
    organizer = event.organizer
    assert organizer is not None
    assert str(organizer) == ORGANIZER
    assert dict(organizer.params) == {"CN": "Fallkonferenz-Bot"}
    attendees = event.attendees
    assert [str(a) for a in attendees] == [ROOM[0], TEAM[0]]
    for attendee, (_, name) in zip(attendees, [ROOM, TEAM], strict=True):
        assert dict(attendee.params) == {
            "CN": name,
            "CUTYPE": "GROUP",
            "ROLE": "REQ-PARTICIPANT",
            "PARTSTAT": "NEEDS-ACTION",
            "RSVP": "FALSE",
        }


def test_organizer_and_attendees_in_vobject() -> None:
    vevent = read_vobject(render(attendees=[ROOM, TEAM])).vevent
    assert vevent.organizer.value == ORGANIZER
    assert vevent.organizer.params == {"CN": ["Fallkonferenz-Bot"]}
    assert [a.value for a in vevent.attendee_list] == [ROOM[0], TEAM[0]]
    for attendee, (_, name) in zip(vevent.attendee_list, [ROOM, TEAM], strict=True):
        assert attendee.params == {
            "CN": [name],
            "CUTYPE": ["GROUP"],
            "ROLE": ["REQ-PARTICIPANT"],
            "PARTSTAT": ["NEEDS-ACTION"],
            "RSVP": ["FALSE"],
        }


# --- refused ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("session", "match"),
    [
        (entry(starts_at=datetime(2027, 7, 14, 10, 0)), "starts_at has no time zone"),
        (entry(ends_at=datetime(2027, 7, 14, 12, 0)), "ends_at has no time zone"),
        (entry(ends_at=SUMMER), "must end"),
        (entry(ends_at=SUMMER - timedelta(minutes=1)), "must end"),
        (entry(ends_at=SUMMER.replace(microsecond=500_000)), "must end"),  # same second
        (entry(sequence=-1), "negative"),
        (entry(uid=" "), "no UID"),
    ],
    ids=["naive-start", "naive-end", "no-duration", "ends-first", "sub-second", "seq", "uid"],
)
def test_refused(session: CalendarEntry, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        render(session)


def test_naive_stamp_is_refused() -> None:
    with pytest.raises(ValueError, match="stamp has no time zone"):
        render(stamp=datetime(2026, 11, 21, 9, 15))


def test_an_invitation_without_attendees_is_refused() -> None:
    with pytest.raises(ValueError, match="attendee"):
        render(attendees=[])


# --- property: any start, any duration, both parsers agree with the input ----------

ZONES = [
    UTC,
    BERLIN,
    ZoneInfo("America/New_York"),
    ZoneInfo("Australia/Lord_Howe"),
    timezone(timedelta(hours=5, minutes=30)),
]


@settings(max_examples=150, deadline=None)
@given(
    start=st.datetimes(
        min_value=datetime(2026, 1, 1),
        max_value=datetime(2030, 12, 31, 23, 59, 59),
        timezones=st.sampled_from(ZONES),
        allow_imaginary=False,
    ),
    duration=st.timedeltas(min_value=timedelta(seconds=1), max_value=timedelta(days=3)),
)
@example(start=datetime(2027, 10, 31, 2, 30, fold=1, tzinfo=BERLIN), duration=timedelta(hours=1))
@example(start=datetime(2027, 3, 28, 1, 59, 59, tzinfo=BERLIN), duration=timedelta(seconds=1))
@example(start=datetime(2026, 10, 25, 0, 59, 59, tzinfo=UTC), duration=timedelta(seconds=2))
def test_both_parsers_give_back_the_same_instants(start: datetime, duration: timedelta) -> None:
    end = utc(start) + duration
    data = render(entry(starts_at=start, ends_at=end))
    _, event = read_icalendar(data)
    vcalendar = read_vobject(data)
    own_zone = vcalendar.vtimezone.gettzinfo()
    for expected, from_icalendar, from_vobject in [
        (start.replace(microsecond=0), event.decoded("DTSTART"), vcalendar.vevent.dtstart.value),
        (end.replace(microsecond=0), event.decoded("DTEND"), vcalendar.vevent.dtend.value),
    ]:
        assert utc(from_icalendar) == utc(from_vobject) == utc(expected)
        if from_icalendar.utcoffset():  # Berlin is never at UTC+0: written with TZID
            wall = expected.astimezone(BERLIN).replace(tzinfo=None)
            assert from_icalendar.replace(tzinfo=None) == wall
            assert from_vobject.replace(tzinfo=None) == wall
            assert utc(wall.replace(tzinfo=own_zone)) == utc(expected)
