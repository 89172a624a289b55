"""Availability polls: candidate slots, MSC3381 event shapes, vote counting, text votes."""

from __future__ import annotations

import json
import random
from collections.abc import Mapping
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from domain.calendar import Calendar
from domain.dates import LOCAL_TZ
from domain.errors import ArgumentError
from domain.polls import (
    POLL_END,
    POLL_RESPONSE,
    POLL_START,
    UNSTABLE_END,
    UNSTABLE_RESPONSE,
    UNSTABLE_START,
    Ballot,
    Vote,
    answer_ids,
    candidate_slots,
    end_content,
    parse_choice,
    parse_response,
    start_content,
    tally,
)

HOUR = timedelta(hours=1)
TWO_HOURS = timedelta(hours=2)
NINE, TWO_PM = time(9, 0), time(14, 0)


def berlin(day: date, clock: time) -> datetime:
    """A Berlin wall-clock time as aware UTC (only for unambiguous times)."""
    return datetime.combine(day, clock, LOCAL_TZ).astimezone(UTC)


class EveryDay(Calendar):
    """A calendar where every day is a working day, to reach the Sunday clock changes."""

    def is_working_day(self, day: date) -> bool:
        return True


# --- candidate slots ---------------------------------------------------------------


def test_slots_skip_the_weekend_and_today() -> None:
    thursday_morning = berlin(date(2026, 11, 19), time(7, 0))  # 09:00 today is not offered
    slots = candidate_slots(
        thursday_morning,
        date(2026, 11, 23),
        calendar=Calendar(),
        times=[TWO_PM, NINE],
        duration=TWO_HOURS,
        busy=[],
    )
    assert slots == [
        berlin(date(2026, 11, 20), NINE),
        berlin(date(2026, 11, 20), TWO_PM),
        berlin(date(2026, 11, 23), NINE),
        berlin(date(2026, 11, 23), TWO_PM),
    ]
    assert slots[0] == datetime(2026, 11, 20, 8, 0, tzinfo=UTC)  # CET is UTC+1
    assert all(s.utcoffset() == timedelta(0) for s in slots)


def test_the_day_after_now_is_counted_in_berlin_not_utc() -> None:
    late_thursday_utc = datetime(2026, 11, 19, 23, 30, tzinfo=UTC)  # Friday 00:30 in Berlin
    slots = candidate_slots(
        late_thursday_utc,
        date(2026, 11, 24),
        calendar=Calendar(),
        times=[NINE],
        duration=TWO_HOURS,
        busy=[],
    )
    assert [s.astimezone(LOCAL_TZ).date() for s in slots] == [
        date(2026, 11, 23),
        date(2026, 11, 24),
    ]


def test_slots_skip_hessian_holidays() -> None:
    slots = candidate_slots(
        berlin(date(2026, 12, 23), time(12, 0)),
        date(2027, 1, 5),
        calendar=Calendar(land="HE"),
        times=[NINE],
        duration=TWO_HOURS,
        busy=[],
        limit=20,
    )
    days = [s.astimezone(LOCAL_TZ).date() for s in slots]
    assert days == [
        date(2026, 12, 24),
        date(2026, 12, 28),
        date(2026, 12, 29),
        date(2026, 12, 30),
        date(2026, 12, 31),
        date(2027, 1, 4),
        date(2027, 1, 5),
    ]


def test_without_holidays_christmas_is_offered() -> None:
    slots = candidate_slots(
        berlin(date(2026, 12, 24), time(12, 0)),
        date(2026, 12, 25),
        calendar=Calendar(land=None),
        times=[NINE],
        duration=TWO_HOURS,
        busy=[],
    )
    assert slots == [berlin(date(2026, 12, 25), NINE)]


def test_spring_forward_skips_the_missing_hour() -> None:
    # 2027-03-28 is a Sunday: clocks jump from 02:00 to 03:00, 02:30 does not exist.
    slots = candidate_slots(
        datetime(2027, 3, 27, 12, 0, tzinfo=UTC),
        date(2027, 3, 29),
        calendar=EveryDay(),
        times=[time(2, 30), NINE],
        duration=HOUR,
        busy=[],
    )
    assert slots == [
        datetime(2027, 3, 28, 7, 0, tzinfo=UTC),  # 09:00 CEST
        datetime(2027, 3, 29, 0, 30, tzinfo=UTC),  # 02:30 CEST the day after
        datetime(2027, 3, 29, 7, 0, tzinfo=UTC),
    ]


def test_fall_back_skips_the_repeated_hour() -> None:
    # 2027-10-31 is a Sunday: 02:30 happens twice.
    slots = candidate_slots(
        datetime(2027, 10, 30, 12, 0, tzinfo=UTC),
        date(2027, 10, 31),
        calendar=EveryDay(),
        times=[time(2, 30), NINE],
        duration=HOUR,
        busy=[],
    )
    assert slots == [datetime(2027, 10, 31, 8, 0, tzinfo=UTC)]  # 09:00 CET


def test_busy_intervals_block_overlapping_slots_only() -> None:
    monday, tuesday = date(2026, 11, 23), date(2026, 11, 24)
    busy = [
        (berlin(monday, time(10, 30)), berlin(monday, time(11, 0))),  # inside Mon 9-11
        (berlin(monday, time(12, 0)), berlin(monday, TWO_PM)),  # ends as Mon 14:00 starts
        (berlin(tuesday, time(11, 0)), berlin(tuesday, time(12, 0))),  # starts as Tue 9-11 ends
        (berlin(tuesday, time(15, 0)), berlin(tuesday, time(15, 0))),  # empty: blocks nothing
    ]
    slots = candidate_slots(
        berlin(date(2026, 11, 22), time(12, 0)),
        tuesday,
        calendar=Calendar(),
        times=[NINE, TWO_PM],
        duration=TWO_HOURS,
        busy=busy,
    )
    assert slots == [
        berlin(monday, TWO_PM),
        berlin(tuesday, NINE),
        berlin(tuesday, TWO_PM),
    ]


def test_limit_keeps_the_earliest() -> None:
    slots = candidate_slots(
        berlin(date(2026, 11, 22), time(12, 0)),
        date(2026, 12, 31),
        calendar=Calendar(),
        times=[TWO_PM, NINE, time(11, 0)],
        duration=TWO_HOURS,
        busy=[],
        limit=4,
    )
    monday, tuesday = date(2026, 11, 23), date(2026, 11, 24)
    assert slots == [
        berlin(monday, NINE),
        berlin(monday, time(11, 0)),
        berlin(monday, TWO_PM),
        berlin(tuesday, NINE),
    ]


def test_a_time_given_twice_is_offered_once() -> None:
    slots = candidate_slots(
        berlin(date(2026, 11, 22), time(12, 0)),
        date(2026, 11, 23),
        calendar=Calendar(),
        times=[NINE, NINE],
        duration=TWO_HOURS,
        busy=[],
    )
    assert slots == [berlin(date(2026, 11, 23), NINE)]


@pytest.mark.parametrize("limit", [0, -1, 21])
def test_limit_out_of_range_is_refused(limit: int) -> None:
    with pytest.raises(ValueError, match="limit"):
        candidate_slots(
            datetime(2026, 11, 22, 12, tzinfo=UTC),
            None,
            calendar=Calendar(),
            times=[NINE],
            duration=TWO_HOURS,
            busy=[],
            limit=limit,
        )


def test_limit_bounds_are_accepted() -> None:
    for limit in (1, 20):
        slots = candidate_slots(
            datetime(2026, 11, 22, 12, tzinfo=UTC),
            None,
            calendar=Calendar(),
            times=[NINE, TWO_PM],
            duration=TWO_HOURS,
            busy=[],
            limit=limit,
        )
        assert len(slots) == limit


def test_without_latest_the_next_working_days_are_used() -> None:
    friday_noon = berlin(date(2026, 11, 20), time(12, 0))
    slots = candidate_slots(
        friday_noon,
        None,
        calendar=Calendar(),
        times=[NINE],
        duration=TWO_HOURS,
        busy=[],
        limit=20,
        fallback_working_days=3,
    )
    assert slots == [berlin(date(2026, 11, d), NINE) for d in (23, 24, 25)]


def test_default_fallback_is_ten_working_days() -> None:
    slots = candidate_slots(
        berlin(date(2026, 11, 20), time(12, 0)),
        None,
        calendar=Calendar(),
        times=[NINE],
        duration=TWO_HOURS,
        busy=[],
        limit=20,
    )
    assert len(slots) == 10
    assert slots[-1] == berlin(date(2026, 12, 4), NINE)


def test_latest_before_tomorrow_gives_nothing() -> None:
    now = berlin(date(2026, 11, 23), time(8, 0))
    for latest in (date(2026, 11, 23), date(2026, 11, 1)):
        assert (
            candidate_slots(
                now, latest, calendar=Calendar(), times=[NINE], duration=TWO_HOURS, busy=[]
            )
            == []
        )


def test_a_calendar_without_working_days_ends() -> None:
    class Closed(Calendar):
        def is_working_day(self, day: date) -> bool:
            return False

    now = datetime(2026, 11, 22, 12, tzinfo=UTC)
    assert candidate_slots(now, None, calendar=Closed(), times=[NINE], duration=HOUR, busy=[]) == []


@pytest.mark.parametrize(
    ("now", "duration", "problem"),
    [
        (datetime(2026, 11, 22, 12), TWO_HOURS, "aware"),  # naive
        (datetime(2026, 11, 22, 12, tzinfo=UTC), timedelta(0), "duration"),
    ],
)
def test_bad_arguments_are_refused(now: datetime, duration: timedelta, problem: str) -> None:
    with pytest.raises(ValueError, match=problem):
        candidate_slots(now, None, calendar=Calendar(), times=[NINE], duration=duration, busy=[])


# --- event contents ----------------------------------------------------------------

ANSWERS = [("1", "Mo 23.11. 09:00"), ("2", "Mo 23.11. 14:00"), ("3", "Di 24.11. 09:00")]
FALLBACK = "Terminumfrage\n1. Mo 23.11. 09:00\n2. …\nAbstimmen: !fk abstimmen 7 1,3"


def test_start_content_has_stable_and_unstable_shapes() -> None:
    content = start_content("Wann passt es?", ANSWERS, FALLBACK, max_selections=3)
    assert content["body"] == FALLBACK
    assert content["m.text"] == [{"mimetype": "text/plain", "body": FALLBACK}]
    assert content["m.poll"] == {
        "kind": "m.disclosed",
        "max_selections": 3,
        "question": {"m.text": [{"body": "Wann passt es?"}]},
        "answers": [{"m.id": i, "m.text": [{"body": label}]} for i, label in ANSWERS],
    }
    assert content["org.matrix.msc1767.text"] == FALLBACK
    assert content[UNSTABLE_START] == {
        "kind": "org.matrix.msc3381.poll.disclosed",
        "max_selections": 3,
        "question": {"org.matrix.msc1767.text": "Wann passt es?"},
        "answers": [{"id": i, "org.matrix.msc1767.text": label} for i, label in ANSWERS],
    }
    assert json.loads(json.dumps(content)) == content


def test_event_type_names() -> None:
    assert (POLL_START, POLL_RESPONSE, POLL_END) == (
        "m.poll.start",
        "m.poll.response",
        "m.poll.end",
    )
    assert (UNSTABLE_START, UNSTABLE_RESPONSE, UNSTABLE_END) == (
        "org.matrix.msc3381.poll.start",
        "org.matrix.msc3381.poll.response",
        "org.matrix.msc3381.poll.end",
    )


def test_answer_ids_are_short_and_unique() -> None:
    ids = answer_ids(8)
    assert ids == ("1", "2", "3", "4", "5", "6", "7", "8")
    content = start_content("?", [(i, f"Termin {i}") for i in ids], "?", max_selections=8)
    stable = [a["m.id"] for a in content["m.poll"]["answers"]]
    unstable = [a["id"] for a in content[UNSTABLE_START]["answers"]]
    assert stable == unstable == list(ids)
    with pytest.raises(ValueError, match="answers"):
        answer_ids(21)


@pytest.mark.parametrize(
    ("answers", "max_selections", "problem"),
    [
        ([("1", "a"), ("1", "b")], 1, "unique"),
        ([("", "a")], 1, "non-empty"),
        ([("1", " ")], 1, "labels"),
        ([], 1, "1 to 20 answers"),
        ([(str(i), "x") for i in range(21)], 1, "1 to 20 answers"),  # MSC3381: at most 20
        ([("1", "a"), ("2", "b")], 0, "max_selections"),
        ([("1", "a"), ("2", "b")], 3, "max_selections"),
    ],
)
def test_bad_polls_are_refused(
    answers: list[tuple[str, str]], max_selections: int, problem: str
) -> None:
    with pytest.raises(ValueError, match=problem):
        start_content("Frage", answers, "Frage", max_selections=max_selections)


def element_response(start: Mapping[str, Any], poll_event_id: str, picks: list[int]) -> Any:
    """An unstable response as matrix-js-sdk's PollResponseEvent.from(...).serialize() sends it."""
    ids = [start[UNSTABLE_START]["answers"][i]["id"] for i in picks]
    return {
        "m.relates_to": {"rel_type": "m.reference", "event_id": poll_event_id},
        "org.matrix.msc3381.poll.response": {"answers": ids},
    }


def stable_response(start: Mapping[str, Any], poll_event_id: str, picks: list[int]) -> Any:
    """A stable response as MSC3381 describes it (ruma's PollResponseEventContent)."""
    ids = [start["m.poll"]["answers"][i]["m.id"] for i in picks]
    return {
        "m.relates_to": {"rel_type": "m.reference", "event_id": poll_event_id},
        "m.selections": ids,
    }


def test_responses_round_trip_in_both_shapes() -> None:
    start = start_content("Wann?", ANSWERS, FALLBACK, max_selections=2)
    unstable = element_response(start, "$poll:example.org", [1])
    stable = stable_response(start, "$poll:example.org", [0, 2])
    assert parse_response(UNSTABLE_RESPONSE, unstable) == Vote("$poll:example.org", ("2",))
    assert parse_response(POLL_RESPONSE, stable) == Vote("$poll:example.org", ("1", "3"))


def test_a_response_with_only_the_other_block_is_still_read() -> None:
    rel = {"m.relates_to": {"rel_type": "m.reference", "event_id": "$p"}}
    assert parse_response(POLL_RESPONSE, {**rel, UNSTABLE_RESPONSE: {"answers": ["2"]}}) == Vote(
        "$p", ("2",)
    )
    assert parse_response(UNSTABLE_RESPONSE, {**rel, "m.selections": ["3"]}) == Vote("$p", ("3",))
    both = {**rel, "m.selections": ["1"], UNSTABLE_RESPONSE: {"answers": ["2"]}}
    assert parse_response(POLL_RESPONSE, both) == Vote("$p", ("1",))
    assert parse_response(UNSTABLE_RESPONSE, both) == Vote("$p", ("2",))


REL = {"rel_type": "m.reference", "event_id": "$p"}


@pytest.mark.parametrize(
    ("event_type", "content"),
    [
        ("m.room.message", {"m.relates_to": REL, "m.selections": ["1"]}),
        ("m.reaction", {"m.relates_to": REL, "m.selections": ["1"]}),
        (POLL_START, {"m.relates_to": REL, "m.selections": ["1"]}),
        (POLL_RESPONSE, {"m.selections": ["1"]}),  # no relation
        (POLL_RESPONSE, {"m.relates_to": "$p", "m.selections": ["1"]}),
        (POLL_RESPONSE, {"m.relates_to": {"event_id": "$p"}, "m.selections": ["1"]}),
        (POLL_RESPONSE, {"m.relates_to": {**REL, "rel_type": "m.annotation"}, "m.selections": []}),
        (POLL_RESPONSE, {"m.relates_to": {**REL, "rel_type": "m.thread"}, "m.selections": ["1"]}),
        (POLL_RESPONSE, {"m.relates_to": {"rel_type": "m.reference"}, "m.selections": ["1"]}),
        (POLL_RESPONSE, {"m.relates_to": {**REL, "event_id": ""}, "m.selections": ["1"]}),
        (POLL_RESPONSE, {"m.relates_to": {**REL, "event_id": 7}, "m.selections": ["1"]}),
        (UNSTABLE_RESPONSE, {"m.relates_to": None, UNSTABLE_RESPONSE: {"answers": ["1"]}}),
        (UNSTABLE_RESPONSE, []),
        (UNSTABLE_RESPONSE, "content"),
    ],
)
def test_responses_not_attached_to_a_poll_are_ignored(event_type: str, content: Any) -> None:
    assert parse_response(event_type, content) is None


@pytest.mark.parametrize(
    ("event_type", "content"),
    [
        (POLL_RESPONSE, {"m.relates_to": REL}),  # no selections at all
        (POLL_RESPONSE, {"m.relates_to": REL, "m.selections": "1"}),
        (POLL_RESPONSE, {"m.relates_to": REL, "m.selections": ["1", 2]}),
        (POLL_RESPONSE, {"m.relates_to": REL, "m.selections": [None]}),
        (POLL_RESPONSE, {"m.relates_to": REL, "m.selections": {"1": True}}),
        (POLL_RESPONSE, {"m.relates_to": REL, "m.selections": []}),
        (UNSTABLE_RESPONSE, {"m.relates_to": REL, UNSTABLE_RESPONSE: {}}),
        (UNSTABLE_RESPONSE, {"m.relates_to": REL, UNSTABLE_RESPONSE: ["1"]}),
        (UNSTABLE_RESPONSE, {"m.relates_to": REL, UNSTABLE_RESPONSE: {"answers": [["1"]]}}),
        (UNSTABLE_RESPONSE, {"m.relates_to": REL, UNSTABLE_RESPONSE: {"answers": None}}),
    ],
)
def test_unusable_selections_are_a_spoiled_vote(event_type: str, content: Any) -> None:
    # MSC3381: the latest response counts "even if that event is invalid" -> no selection.
    assert parse_response(event_type, content) == Vote("$p", ())


JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=3),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=3), inner, max_size=3)
    ),
    max_leaves=6,
)
RELATION = st.fixed_dictionaries(
    {}, optional={"rel_type": st.just("m.reference") | JSON, "event_id": st.just("$p") | JSON}
)
IDS_OR_JUNK = st.lists(st.text(max_size=2), max_size=3) | JSON
CONTENT = st.fixed_dictionaries(
    {},
    optional={
        "m.relates_to": RELATION | JSON,
        "m.selections": IDS_OR_JUNK,
        UNSTABLE_RESPONSE: st.fixed_dictionaries({}, optional={"answers": IDS_OR_JUNK}) | JSON,
    },
)


@given(st.sampled_from([POLL_RESPONSE, UNSTABLE_RESPONSE, "m.room.message"]), CONTENT | JSON)
def test_parse_response_never_raises(event_type: str, content: Any) -> None:
    vote = parse_response(event_type, content)
    if vote is None:
        return
    assert event_type in (POLL_RESPONSE, UNSTABLE_RESPONSE)
    assert content["m.relates_to"]["rel_type"] == "m.reference"
    assert vote.poll_event_id == content["m.relates_to"]["event_id"] != ""
    assert all(isinstance(s, str) for s in vote.selections)


def test_end_content_shapes() -> None:
    content = end_content("$poll:example.org", "Umfrage beendet. Termin: Mo 23.11. 09:00")
    summary = "Umfrage beendet. Termin: Mo 23.11. 09:00"
    assert content == {
        "m.relates_to": {"rel_type": "m.reference", "event_id": "$poll:example.org"},
        "body": summary,
        "m.text": [{"mimetype": "text/plain", "body": summary}],
        "org.matrix.msc1767.text": summary,
        "org.matrix.msc3381.poll.end": {},
    }
    with pytest.raises(ValueError, match="poll_event_id"):
        end_content("", summary)


# --- tally -------------------------------------------------------------------------

T0 = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)
IDS = ("1", "2", "3", "4")
INSTITUTION = {
    "@jc1:x": "Jobcenter",
    "@jc2:x": "Jobcenter",
    "@jc3:x": "Jobcenter",
    "@jugendamt:x": "Jugendamt",
    "@schule:x": "Schule",
    "@klinik:x": "Klinik",
    "@gast:x": "Presse",
}
WANTED = frozenset({"Jobcenter", "Jugendamt", "Schule", "Klinik"})


def at(minutes: int) -> datetime:
    return T0 + timedelta(minutes=minutes)


def count(
    ballots: list[Ballot], *, max_selections: int = 4, closed_at: datetime | None = None
) -> Any:
    return tally(
        IDS,
        ballots,
        institution_of=INSTITUTION.get,
        wanted=WANTED,
        max_selections=max_selections,
        closed_at=closed_at,
    )


def test_institutions_not_voters_decide() -> None:
    result = count(
        [
            Ballot("@jc1:x", ("2",), at(1)),
            Ballot("@jc2:x", ("2",), at(2)),
            Ballot("@jc3:x", ("2",), at(3)),
            Ballot("@jugendamt:x", ("4",), at(4)),
            Ballot("@schule:x", ("4",), at(5)),
        ]
    )
    assert result.institutions["2"] == {"Jobcenter"}
    assert result.institutions["4"] == {"Jugendamt", "Schule"}
    assert result.best == "4"


def test_the_latest_ballot_wins() -> None:
    result = count(
        [
            Ballot("@schule:x", ("3",), at(5)),
            Ballot("@schule:x", ("1",), at(1)),  # older, though later in the list
        ]
    )
    assert result.voters == {"@schule:x": ("3",)}
    assert result.institutions["1"] == frozenset()
    assert result.best == "3"


def test_equal_times_the_later_ballot_in_order_wins() -> None:
    result = count([Ballot("@schule:x", ("3",), at(1)), Ballot("@schule:x", ("1",), at(1))])
    assert result.voters == {"@schule:x": ("1",)}


def test_an_empty_latest_ballot_clears_the_vote() -> None:
    result = count([Ballot("@schule:x", ("3",), at(1)), Ballot("@schule:x", (), at(2))])
    assert result.voters == {"@schule:x": ()}
    assert result.best is None


def test_ballots_after_the_close_are_ignored() -> None:
    result = count(
        [
            Ballot("@schule:x", ("1",), at(1)),
            Ballot("@schule:x", ("2",), at(11)),  # changed the vote too late
            Ballot("@klinik:x", ("3",), at(12)),  # voted too late
            Ballot("@jugendamt:x", ("4",), at(10)),  # exactly at the close: counts
        ],
        closed_at=at(10),
    )
    assert result.voters == {"@schule:x": ("1",), "@jugendamt:x": ("4",)}
    assert result.best == "1"


def test_selections_are_truncated_to_max_selections() -> None:
    result = count([Ballot("@schule:x", ("3", "1", "2"), at(1))], max_selections=2)
    assert result.voters == {"@schule:x": ("3", "1")}
    assert result.institutions["2"] == frozenset()


def test_repeats_after_truncation_count_once() -> None:
    result = count([Ballot("@schule:x", ("2", "2", "3"), at(1))], max_selections=2)
    assert result.voters == {"@schule:x": ("2",)}
    assert result.institutions["3"] == frozenset()


@pytest.mark.parametrize(
    ("selections", "max_selections"),
    [
        (("1", "9"), 4),
        (("9",), 4),
        (("1", "9"), 1),  # unknown even beyond the truncation: spoiled (js-sdk, ruma)
    ],
)
def test_an_unknown_answer_spoils_the_ballot(
    selections: tuple[str, ...], max_selections: int
) -> None:
    result = count(
        [Ballot("@schule:x", ("1",), at(0)), Ballot("@schule:x", selections, at(1))],
        max_selections=max_selections,
    )
    assert result.voters == {"@schule:x": ()}
    assert result.institutions["1"] == frozenset()
    assert result.best is None


def test_voters_without_a_wanted_institution_do_not_count() -> None:
    result = count(
        [
            Ballot("@gast:x", ("1",), at(1)),  # institution not invited
            Ballot("@unbekannt:x", ("1",), at(2)),  # no institution at all
            Ballot("@klinik:x", ("2",), at(3)),
        ]
    )
    assert result.voters == {"@klinik:x": ("2",)}
    assert result.institutions["1"] == frozenset()
    assert result.best == "2"


def test_ties_go_to_the_earliest_answer() -> None:
    result = count([Ballot("@schule:x", ("3",), at(1)), Ballot("@klinik:x", ("2",), at(2))])
    assert result.best == "2"
    multi = count([Ballot("@schule:x", ("4", "3"), at(1))])
    assert multi.best == "3"


def test_no_votes_no_best() -> None:
    result = count([])
    assert result.best is None
    assert result.voters == {}
    assert result.institutions == {i: frozenset() for i in IDS}


def test_tally_refuses_bad_arguments() -> None:
    with pytest.raises(ValueError, match="max_selections"):
        count([], max_selections=0)
    with pytest.raises(ValueError, match="unique"):
        tally(("1", "1"), [], institution_of=INSTITUTION.get, wanted=WANTED, max_selections=1)


VOTERS = [*sorted(INSTITUTION), "@unbekannt:x"]
BALLOTS = st.lists(
    st.builds(
        Ballot,
        voter=st.sampled_from(VOTERS),
        selections=st.lists(st.sampled_from([*IDS, "9"]), max_size=5).map(tuple),
        at=st.integers(0, 60).map(at),
    ),
    max_size=25,
)


@given(BALLOTS, st.integers(1, 4), st.none() | st.integers(0, 60).map(at))
def test_best_has_the_most_institutions_and_is_the_earliest_such(
    ballots: list[Ballot], max_selections: int, closed_at: datetime | None
) -> None:
    result = count(ballots, max_selections=max_selections, closed_at=closed_at)
    sizes = [len(result.institutions[i]) for i in IDS]
    if result.best is None:
        assert max(sizes) == 0
        return
    best = IDS.index(result.best)
    assert sizes[best] > 0
    assert all(sizes[best] >= size for size in sizes)
    assert all(size < sizes[best] for size in sizes[:best])
    for voter, selections in result.voters.items():
        assert INSTITUTION.get(voter) in WANTED
        assert len(selections) <= max_selections
        assert len(set(selections)) == len(selections)


@given(BALLOTS, st.randoms(use_true_random=False))
def test_the_order_of_ballots_with_distinct_times_does_not_matter(
    ballots: list[Ballot], rnd: random.Random
) -> None:
    distinct = list({(b.voter, b.at): b for b in ballots}.values())
    shuffled = distinct[:]
    rnd.shuffle(shuffled)
    assert count(shuffled, max_selections=2) == count(distinct, max_selections=2)


# --- text votes --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("1,3", (1, 3)),
        ("1 3", (1, 3)),
        ("1, 3", (1, 3)),
        ("3,1,1", (1, 3)),
        ("1;2", (1, 2)),
        ("  8 ", (8,)),
        ("01", (1,)),
        ("1,,3,", (1, 3)),
        ("keine", ()),
        ("Keine", ()),
        (" KEINE ", ()),
    ],
)
def test_parse_choice_accepts(text: str, expected: tuple[int, ...]) -> None:
    assert parse_choice(text, 8) == expected


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("", "Keine Auswahl"),
        (" , ", "Keine Auswahl"),
        ("0", "1 bis 8"),
        ("9", "1 bis 8"),
        ("1,9", "1 bis 8"),
        ("Müller", "anderes als Nummern"),
        ("1,a", "anderes als Nummern"),
        ("-1", "anderes als Nummern"),
        ("1-3", "anderes als Nummern"),
        ("1.5", "anderes als Nummern"),
        ("²", "anderes als Nummern"),
        ("١", "anderes als Nummern"),  # an Arabic-Indic digit: int() would accept it
        ("1 keine", "allein"),
    ],
)
def test_parse_choice_refuses(text: str, fragment: str) -> None:
    with pytest.raises(ArgumentError) as caught:
        parse_choice(text, 8)
    assert fragment in caught.value.message
    assert "z. B." in caught.value.message
    if text.strip(" ,") and text != "1 keine":
        assert text not in caught.value.message  # never repeat what was typed


def test_parse_choice_respects_max_selections() -> None:
    assert parse_choice("1 2", 8, max_selections=2) == (1, 2)
    with pytest.raises(ArgumentError, match="Höchstens 2"):
        parse_choice("1 2 3", 8, max_selections=2)


def test_parse_choice_needs_options() -> None:
    with pytest.raises(ValueError, match="count"):
        parse_choice("1", 0)
