"""Placement of ready requests into sessions: examples, then the invariants as properties."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from domain.dates import local_date
from domain.placement import Candidate, OpenSession, Placement, place

NOW = datetime(2026, 11, 21, 10, 0, tzinfo=UTC)  # Saturday, 11:00 in Berlin
T0 = datetime(2026, 11, 1, 8, 0, tzinfo=UTC)  # when requests were made


def at(day: int, hour: int = 9, month: int = 11) -> datetime:
    """A session start in UTC (09:00 UTC is 10:00 in Berlin in winter)."""
    return datetime(2026, month, day, hour, 0, tzinfo=UTC)


def session(sid: int, starts_at: datetime, capacity: int = 6, taken: int = 0) -> OpenSession:
    return OpenSession(id=sid, starts_at=starts_at, capacity=capacity, taken=taken)


def request(
    rid: int, *, urgent: bool = False, minutes: int = 0, latest: date | None = None
) -> Candidate:
    return Candidate(
        id=rid, urgent=urgent, requested_at=T0 + timedelta(minutes=minutes), latest=latest
    )


def everyone(_rid: int, _day: date) -> bool:
    return True


# -- examples -----------------------------------------------------------------------------


def test_nothing_to_place() -> None:
    assert place([], [session(1, at(25))], everyone, NOW) == Placement()


def test_earliest_session_with_room_whatever_the_input_order() -> None:
    sessions = [session(3, at(9, month=12)), session(1, at(25)), session(2, at(2, month=12))]
    result = place([request(10)], sessions, everyone, NOW)
    assert result.assigned == {10: 1}
    assert result.unplaced == {}


def test_urgent_first_even_if_requested_later() -> None:
    sessions = [session(1, at(25), capacity=1), session(2, at(2, month=12), capacity=1)]
    regular, urgent = request(10, minutes=0), request(11, urgent=True, minutes=90)
    result = place([regular, urgent], sessions, everyone, NOW)
    assert result.assigned == {11: 1, 10: 2}


def test_then_in_the_order_of_the_requests() -> None:
    sessions = [session(1, at(25), capacity=1), session(2, at(2, month=12), capacity=1)]
    late, early = request(10, minutes=30), request(11, minutes=5)
    assert place([late, early], sessions, everyone, NOW).assigned == {11: 1, 10: 2}


def test_same_request_time_falls_back_to_the_id() -> None:
    sessions = [session(1, at(25), capacity=1)]
    result = place([request(12), request(11)], sessions, everyone, NOW)
    assert result.assigned == {11: 1}
    assert result.unplaced == {12: "alle Termine bis zum spätesten Datum sind voll"}


def test_capacity_counts_places_already_taken() -> None:
    sessions = [session(1, at(25), capacity=3, taken=2), session(2, at(2, month=12), capacity=3)]
    result = place([request(10), request(11), request(12)], sessions, everyone, NOW)
    assert result.assigned == {10: 1, 11: 2, 12: 2}


def test_full_sessions_and_overfull_ones_take_nobody() -> None:
    sessions = [
        session(1, at(25), capacity=2, taken=2),
        session(2, at(26), capacity=2, taken=3),
        session(3, at(27), capacity=0),
    ]
    result = place([request(10)], sessions, everyone, NOW)
    assert result.assigned == {}
    assert result.unplaced == {10: "alle Termine bis zum spätesten Datum sind voll"}


def test_latest_date_is_inclusive() -> None:
    sessions = [session(1, at(26)), session(2, at(25))]
    result = place([request(10, latest=date(2026, 11, 26))], sessions, everyone, NOW)
    assert result.assigned == {10: 2}
    result = place([request(10, latest=date(2026, 11, 24))], sessions, everyone, NOW)
    assert result.unplaced == {10: "kein Termin vor dem spätesten Datum"}


def test_latest_date_is_a_berlin_date() -> None:
    # 23:30 UTC on 25.11. is 00:30 on 26.11. in Berlin
    sessions = [session(1, datetime(2026, 11, 25, 23, 30, tzinfo=UTC))]
    result = place([request(10, latest=date(2026, 11, 25))], sessions, everyone, NOW)
    assert result.unplaced == {10: "kein Termin vor dem spätesten Datum"}
    result = place([request(10, latest=date(2026, 11, 26))], sessions, everyone, NOW)
    assert result.assigned == {10: 1}


def test_a_later_session_when_the_earlier_ones_are_full_but_not_after_the_latest_date() -> None:
    sessions = [session(1, at(25), capacity=1), session(2, at(2, month=12))]
    first, second = request(10), request(11, minutes=1, latest=date(2026, 11, 30))
    result = place([first, second], sessions, everyone, NOW)
    assert result.assigned == {10: 1}
    assert result.unplaced == {11: "alle Termine bis zum spätesten Datum sind voll"}


def test_no_session_at_all() -> None:
    assert place([request(10)], [], everyone, NOW).unplaced == {10: "kein Termin"}
    result = place([request(10, latest=date(2026, 12, 1))], [], everyone, NOW)
    assert result.unplaced == {10: "kein Termin vor dem spätesten Datum"}


def test_past_and_running_sessions_are_not_used() -> None:
    sessions = [
        session(1, NOW - timedelta(days=1)),
        session(2, NOW),  # starting right now: too late to put it on the agenda
        session(3, NOW + timedelta(minutes=1)),
    ]
    assert place([request(10)], sessions, everyone, NOW).assigned == {10: 3}
    result = place([request(10)], sessions[:2], everyone, NOW)
    assert result.unplaced == {10: "kein Termin"}


def test_gate_is_asked_per_session_date() -> None:
    asked: list[tuple[int, date]] = []

    def from_december(rid: int, day: date) -> bool:
        asked.append((rid, day))
        return day >= date(2026, 12, 1)

    sessions = [
        session(1, at(25)),
        session(2, datetime(2026, 11, 30, 23, 30, tzinfo=UTC)),  # 01.12. in Berlin
        session(3, at(9, month=12)),
    ]
    result = place([request(10)], sessions, from_december, NOW)
    assert result.assigned == {10: 2}
    assert asked == [(10, date(2026, 11, 25)), (10, date(2026, 12, 1))]


def test_gate_per_request() -> None:
    sessions = [session(1, at(25), capacity=1), session(2, at(2, month=12), capacity=1)]

    def only_11_in_november(rid: int, day: date) -> bool:
        return rid != 10 or day.month == 12

    result = place([request(10), request(11, minutes=1)], sessions, only_11_in_november, NOW)
    assert result.assigned == {10: 2, 11: 1}


def test_reason_when_the_gate_covers_no_free_session() -> None:
    sessions = [session(1, at(25), capacity=1, taken=1), session(2, at(2, month=12))]

    def only_november(_rid: int, day: date) -> bool:
        return day.month == 11

    result = place([request(10)], sessions, only_november, NOW)
    assert result.unplaced == {10: "die Einwilligung deckt keinen freien Termin ab"}
    result = place([request(10)], sessions, lambda _r, _d: False, NOW)
    assert result.unplaced == {10: "die Einwilligung deckt keinen freien Termin ab"}


def test_full_wins_over_gate_as_the_reason() -> None:
    sessions = [session(1, at(25), capacity=1, taken=1)]
    result = place([request(10)], sessions, lambda _r, _d: False, NOW)
    assert result.unplaced == {10: "alle Termine bis zum spätesten Datum sind voll"}


def test_urgent_takes_the_last_place_and_the_regular_one_learns_why() -> None:
    sessions = [session(1, at(25), capacity=1)]
    result = place([request(10), request(11, urgent=True, minutes=60)], sessions, everyone, NOW)
    assert result.assigned == {11: 1}
    assert result.unplaced == {10: "alle Termine bis zum spätesten Datum sind voll"}


# -- properties ---------------------------------------------------------------------------

_DAY0 = date(2026, 11, 19)
_DAYS = [_DAY0 + timedelta(days=n) for n in range(12)]


@st.composite
def _sessions(draw: st.DrawFn) -> list[OpenSession]:
    count = draw(st.integers(0, 7))
    ids = draw(st.lists(st.integers(1, 50), min_size=count, max_size=count, unique=True))
    result = []
    for sid in ids:
        # from two days before NOW to ten days after, any quarter hour (also near midnight)
        offset = draw(st.integers(-2 * 96, 10 * 96))
        starts = NOW + timedelta(minutes=15 * offset)
        capacity = draw(st.integers(0, 3))
        taken = draw(st.integers(0, capacity + 1))
        result.append(OpenSession(id=sid, starts_at=starts, capacity=capacity, taken=taken))
    return result


@st.composite
def _candidates(draw: st.DrawFn) -> list[Candidate]:
    count = draw(st.integers(0, 12))
    ids = draw(st.lists(st.integers(100, 200), min_size=count, max_size=count, unique=True))
    return [
        Candidate(
            id=rid,
            urgent=draw(st.booleans()),
            requested_at=T0 + timedelta(hours=draw(st.integers(0, 5))),  # ties on purpose
            latest=draw(st.none() | st.sampled_from(_DAYS)),
        )
        for rid in ids
    ]


def _gate(refused: frozenset[tuple[int, date]]) -> Callable[[int, date], bool]:
    return lambda rid, day: (rid, day) not in refused


_REFUSED = st.frozensets(st.tuples(st.integers(100, 200), st.sampled_from(_DAYS)), max_size=60).map(
    lambda s: s | {(rid, day) for rid in range(100, 201, 7) for day in _DAYS[::3]}
)


def _eligible(c: Candidate, s: OpenSession, refused: frozenset[tuple[int, date]]) -> bool:
    """Could ``c`` go into ``s`` if it had room? (future, in time, gate allows)"""
    day = local_date(s.starts_at)
    return (
        s.starts_at > NOW and (c.latest is None or day <= c.latest) and (c.id, day) not in refused
    )


def _turns(candidates: list[Candidate]) -> list[Candidate]:
    return sorted(candidates, key=lambda c: (not c.urgent, c.requested_at, c.id))


@settings(max_examples=400)
@given(_candidates(), _sessions(), _REFUSED)
def test_invariants(
    candidates: list[Candidate],
    sessions: list[OpenSession],
    refused: frozenset[tuple[int, date]],
) -> None:
    result = place(candidates, sessions, _gate(refused), NOW)
    by_id = {s.id: s for s in sessions}
    requests = {c.id: c for c in candidates}

    # every request exactly once: placed or with a reason
    assert set(result.assigned) | set(result.unplaced) == set(requests)
    assert not set(result.assigned) & set(result.unplaced)

    # never over capacity (an overfull session takes nobody)
    load = Counter(result.assigned.values())
    for sid, count in load.items():
        assert by_id[sid].taken + count <= by_id[sid].capacity

    for rid, sid in result.assigned.items():
        chosen, candidate = by_id[sid], requests[rid]
        day = local_date(chosen.starts_at)
        assert chosen.starts_at > NOW  # never into a past session
        assert candidate.latest is None or day <= candidate.latest  # never too late
        assert (rid, day) not in refused  # never where the gate refuses

    # fairness: nobody later in the order took a place an unplaced request could have used
    # (urgent before regular, then by request time)
    order = _turns(candidates)
    position = {c.id: n for n, c in enumerate(order)}
    for loser in result.unplaced:
        for winner, sid in result.assigned.items():
            if position[winner] > position[loser]:
                assert not _eligible(requests[loser], by_id[sid], refused)
    urgent_unplaced = [rid for rid in result.unplaced if requests[rid].urgent]
    for loser in urgent_unplaced:
        for winner, sid in result.assigned.items():
            if not requests[winner].urgent:
                assert not _eligible(requests[loser], by_id[sid], refused)


@settings(max_examples=400)
@given(_candidates(), _sessions(), _REFUSED)
def test_resimulation_each_turn(
    candidates: list[Candidate],
    sessions: list[OpenSession],
    refused: frozenset[tuple[int, date]],
) -> None:
    """Replay the turns: each placement is the earliest usable session with room at that
    moment, and a request left unplaced had none (with the matching reason)."""
    result = place(candidates, sessions, _gate(refused), NOW)
    free = {s.id: s.capacity - s.taken for s in sessions}
    by_start = sorted(sessions, key=lambda s: (s.starts_at, s.id))
    for c in _turns(candidates):
        usable = [s for s in by_start if _eligible(c, s, refused) and free[s.id] > 0]
        if c.id in result.assigned:
            assert usable, "placed although nothing was usable"
            assert result.assigned[c.id] == usable[0].id
            free[usable[0].id] -= 1
            continue
        assert not usable, "left out although a session had room"
        in_time = [
            s
            for s in by_start
            if s.starts_at > NOW and (c.latest is None or local_date(s.starts_at) <= c.latest)
        ]
        reason = result.unplaced[c.id]
        if not in_time:
            expected = "kein Termin vor dem spätesten Datum" if c.latest else "kein Termin"
        elif all(free[s.id] <= 0 for s in in_time):
            expected = "alle Termine bis zum spätesten Datum sind voll"
        else:
            expected = "die Einwilligung deckt keinen freien Termin ab"
        assert reason == expected


@given(_candidates(), _sessions())
def test_placement_does_not_depend_on_input_order(
    candidates: list[Candidate], sessions: list[OpenSession]
) -> None:
    forward = place(candidates, sessions, everyone, NOW)
    backward = place(candidates[::-1], sessions[::-1], everyone, NOW)
    assert forward == backward
