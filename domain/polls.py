"""Availability polls for an urgent case conference (MSC3381 polls), pure functions only.

The flow, with the side effects (database, Matrix client) left to the caller:

1. ``candidate_slots`` proposes start times: working days from tomorrow (Berlin) up to
   the latest acceptable day, the room's usual start times, nothing that overlaps a
   busy interval; at most ``limit`` of them, earliest first.
2. ``start_content`` builds the poll start event. One content carries both shapes, so
   every client understands it: the ``m.poll`` block of MSC3381 as accepted, and the
   ``org.matrix.msc3381.poll.start`` block that matrix-js-sdk (Element Web) and ruma's
   unstable types read and send. Answer ids are "1", "2", ... (``answer_ids``),
   so the text fallback's option numbers are the answer ids.
3. Participants vote with their client (``parse_response`` reads stable and unstable
   response events) or by text command (``parse_choice`` reads ``1,3`` / ``1 3`` /
   ``keine``). The caller stores each as a ``Ballot``.
4. A moderator closes the poll: ``tally`` counts the ballots by the MSC3381 rules and
   picks the slot most institutions can attend, ties to the earliest slot;
   ``end_content`` builds the poll end event with a summary.

Vote rules (MSC3381 as merged, matrix-spec-proposals ``proposals/3381-polls.md``;
matrix-js-sdk and ruma implement them the same way):

* Only a voter's most recent response counts, even if it is invalid; an invalid or
  empty response clears the vote.
* Responses after the poll end are ignored; one sent exactly at the end still counts
  ("on or before that timestamp").
* If any selected id is not an answer of the poll, the whole response is spoiled
  (counts as no selection) -- unknown ids are not merely dropped.
* Otherwise the selections are truncated to ``max_selections``; an id repeated after
  truncation counts once.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from collections.abc import Set as AbstractSet
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any

from domain.calendar import Calendar
from domain.dates import LOCAL_TZ
from domain.errors import ArgumentError
from domain.text import N_, Joined, Msg, Plural
from domain.when import WhenError, local_moment

POLL_START = "m.poll.start"
POLL_RESPONSE = "m.poll.response"
POLL_END = "m.poll.end"
UNSTABLE_START = "org.matrix.msc3381.poll.start"
UNSTABLE_RESPONSE = "org.matrix.msc3381.poll.response"
UNSTABLE_END = "org.matrix.msc3381.poll.end"

TEXT = "m.text"
UNSTABLE_TEXT = "org.matrix.msc1767.text"
POLL_BLOCK = "m.poll"
SELECTIONS = "m.selections"
KIND_DISCLOSED = "m.disclosed"
UNSTABLE_KIND_DISCLOSED = "org.matrix.msc3381.poll.disclosed"
REFERENCE = "m.reference"

MAX_ANSWERS = 20  # MSC3381: clients truncate the answers to 20
MAX_SLOTS = 20
_MAX_SCAN_DAYS = 366  # never look further ahead than a year for candidate slots


def answer_ids(count: int) -> tuple[str, ...]:
    """The answer ids of a poll with ``count`` options: "1" .. str(count)."""
    if not 1 <= count <= MAX_ANSWERS:
        raise ValueError(f"a poll has 1 to {MAX_ANSWERS} answers, not {count}")
    return tuple(str(n) for n in range(1, count + 1))


# --- candidate slots ---------------------------------------------------------------


def candidate_slots(
    now: datetime,
    latest: date | None,
    *,
    calendar: Calendar,
    times: Sequence[time],
    duration: timedelta,
    busy: Sequence[tuple[datetime, datetime]],
    limit: int = 8,
    fallback_working_days: int = 10,
) -> list[datetime]:
    """Start times (aware, UTC) for a conference of ``duration``, earliest first.

    Working days from the day after ``now`` (Berlin date) through ``latest``, or the
    next ``fallback_working_days`` working days if ``latest`` is None; on each the
    Berlin wall-clock ``times`` that exist exactly once that day (the clock changes
    are skipped) and whose slot [start, start + duration) overlaps no busy interval
    [start, end). At most ``limit`` (1..20) slots; at most a year ahead is searched.
    """
    if now.tzinfo is None or now.utcoffset() is None:
        raise ValueError("now must be timezone-aware")
    if not 1 <= limit <= MAX_SLOTS:
        raise ValueError(f"limit must be 1..{MAX_SLOTS}, not {limit}")
    if duration <= timedelta(0):
        raise ValueError("duration must be positive")
    if latest is None and fallback_working_days < 1:
        raise ValueError("fallback_working_days must be at least 1")
    clocks = sorted(set(times))
    slots: list[datetime] = []
    working_days = 0
    day = now.astimezone(LOCAL_TZ).date()
    for _ in range(_MAX_SCAN_DAYS):
        day += timedelta(days=1)
        if latest is not None and day > latest:
            break
        if latest is None and working_days >= fallback_working_days:
            break
        if not calendar.is_working_day(day):
            continue
        working_days += 1
        for start in sorted(_moments(day, clocks)):
            if not _overlaps(start, start + duration, busy):
                slots.append(start)
                if len(slots) == limit:
                    return slots
    return slots


def _moments(day: date, clocks: Iterable[time]) -> Iterable[datetime]:
    for clock in clocks:
        try:
            yield local_moment(day, clock)
        except WhenError:
            continue  # skipped or repeated by the clock change


def _overlaps(start: datetime, end: datetime, busy: Sequence[tuple[datetime, datetime]]) -> bool:
    return any(b_start < b_end and start < b_end and b_start < end for b_start, b_end in busy)


# --- event contents ----------------------------------------------------------------


def start_content(
    question: str,
    answers: Sequence[tuple[str, str]],
    fallback: str,
    *,
    max_selections: int,
) -> dict[str, Any]:
    """Content of a poll start event, stable and unstable blocks side by side.

    ``answers`` are (answer id, label); ``fallback`` is the plain text for clients
    without polls (numbered options and how to vote by text command). A disclosed
    poll: everyone sees which slots the others can make.
    """
    if not question.strip() or not fallback.strip():
        raise ValueError("question and fallback must not be empty")
    if not 1 <= len(answers) <= MAX_ANSWERS:
        raise ValueError(f"a poll has 1 to {MAX_ANSWERS} answers, not {len(answers)}")
    ids = [answer_id for answer_id, _ in answers]
    if any(not answer_id for answer_id in ids) or len(set(ids)) != len(ids):
        raise ValueError("answer ids must be non-empty and unique")
    if any(not label.strip() for _, label in answers):
        raise ValueError("answer labels must not be empty")
    if not 1 <= max_selections <= len(answers):
        raise ValueError(f"max_selections must be 1..{len(answers)}, not {max_selections}")
    return {
        "body": fallback,
        TEXT: [{"mimetype": "text/plain", "body": fallback}],
        POLL_BLOCK: {
            "kind": KIND_DISCLOSED,
            "max_selections": max_selections,
            "question": {TEXT: [{"body": question}]},
            "answers": [{"m.id": aid, TEXT: [{"body": label}]} for aid, label in answers],
        },
        UNSTABLE_TEXT: fallback,
        UNSTABLE_START: {
            "kind": UNSTABLE_KIND_DISCLOSED,
            "max_selections": max_selections,
            "question": {UNSTABLE_TEXT: question},
            "answers": [{"id": aid, UNSTABLE_TEXT: label} for aid, label in answers],
        },
    }


def end_content(poll_event_id: str, summary: str) -> dict[str, Any]:
    """Content of a poll end event referencing the start event, stable and unstable."""
    if not poll_event_id:
        raise ValueError("poll_event_id must not be empty")
    if not summary.strip():
        raise ValueError("summary must not be empty")
    return {
        "m.relates_to": {"rel_type": REFERENCE, "event_id": poll_event_id},
        "body": summary,
        TEXT: [{"mimetype": "text/plain", "body": summary}],
        UNSTABLE_TEXT: summary,
        UNSTABLE_END: {},
    }


@dataclass(frozen=True)
class Vote:
    """A poll response: which poll, and the ids as sent (unvalidated, untruncated).

    Empty ``selections`` clear the vote: the voter sent an empty selection, or a
    response whose selections are unusable (MSC3381: the latest response counts even
    if invalid, and an invalid one is a spoiled vote, i.e. no selection).
    """

    poll_event_id: str
    selections: tuple[str, ...]


def parse_response(event_type: str, content: Mapping[str, Any]) -> Vote | None:
    """Read a stable or unstable poll response; never raises on bad input.

    None if the event is not a poll response or does not reference a poll (no
    ``m.reference`` relation with an event id): such an event belongs to no poll.
    A response that references a poll but carries no list of string ids is a spoiled
    vote: ``Vote(poll, ())``.
    """
    if event_type not in (POLL_RESPONSE, UNSTABLE_RESPONSE) or not isinstance(content, Mapping):
        return None
    relates = content.get("m.relates_to")
    if not isinstance(relates, Mapping) or relates.get("rel_type") != REFERENCE:
        return None
    poll_event_id = relates.get("event_id")
    if not isinstance(poll_event_id, str) or not poll_event_id:
        return None
    stable = content.get(SELECTIONS)
    unstable_block = content.get(UNSTABLE_RESPONSE)
    unstable = unstable_block.get("answers") if isinstance(unstable_block, Mapping) else None
    first, second = (stable, unstable) if event_type == POLL_RESPONSE else (unstable, stable)
    raw = first if first is not None else second
    if not isinstance(raw, list) or not all(isinstance(s, str) for s in raw):
        return Vote(poll_event_id, ())
    return Vote(poll_event_id, tuple(raw))


# --- counting ----------------------------------------------------------------------


@dataclass(frozen=True)
class Ballot:
    """One response event (or text command): who, what, when (origin_server_ts)."""

    voter: str
    selections: tuple[str, ...]
    at: datetime


@dataclass(frozen=True)
class Tally:
    institutions: dict[str, frozenset[str]]  # answer id -> institutions with a voter for it
    voters: dict[str, tuple[str, ...]]  # counted voter -> counted selections (may be empty)
    best: str | None  # most institutions, ties to the earliest answer; None: no votes


def counted_selections(
    selections: Sequence[str], answer_ids: AbstractSet[str], max_selections: int
) -> tuple[str, ...]:
    """MSC3381: any unknown id spoils the response; else truncate, then count each id once."""
    if any(s not in answer_ids for s in selections):
        return ()
    return tuple(dict.fromkeys(selections[:max_selections]))


def tally(
    answer_ids: Sequence[str],
    ballots: Iterable[Ballot],
    *,
    institution_of: Callable[[str], str | None],
    wanted: AbstractSet[str],
    max_selections: int,
    closed_at: datetime | None = None,
) -> Tally:
    """Count the ballots of a poll whose answers are ``answer_ids`` (in poll order).

    Per voter only the latest ballot by ``at`` counts (on equal ``at`` the later one in
    ``ballots``); ballots after ``closed_at`` are ignored, one exactly at ``closed_at``
    counts. Voters whose institution is unknown or not ``wanted`` are left out. The
    best answer is the one most institutions (not voters) chose, ties to the earliest.
    """
    if len(set(answer_ids)) != len(answer_ids):
        raise ValueError("answer ids must be unique")
    if max_selections < 1:
        raise ValueError("max_selections must be at least 1")
    latest: dict[str, Ballot] = {}
    for ballot in ballots:
        if closed_at is not None and ballot.at > closed_at:
            continue
        previous = latest.get(ballot.voter)
        if previous is None or ballot.at >= previous.at:
            latest[ballot.voter] = ballot
    known = frozenset(answer_ids)
    voters: dict[str, tuple[str, ...]] = {}
    chosen_by: dict[str, set[str]] = {answer: set() for answer in answer_ids}
    for voter, ballot in sorted(latest.items()):
        institution = institution_of(voter)
        if institution is None or institution not in wanted:
            continue
        counted = counted_selections(ballot.selections, known, max_selections)
        voters[voter] = counted
        for answer in counted:
            chosen_by[answer].add(institution)
    institutions = {answer: frozenset(chosen_by[answer]) for answer in answer_ids}
    best: str | None = None
    for answer in answer_ids:
        if institutions[answer] and (
            best is None or len(institutions[answer]) > len(institutions[best])
        ):
            best = answer
    return Tally(institutions=institutions, voters=voters, best=best)


# --- text fallback -----------------------------------------------------------------

_SEPARATORS = re.compile(r"[\s,;]+")
_NUMBER = re.compile(r"[0-9]+")
_NONE = frozenset({"keine", "none"})  # in any room: the German and the English word


def parse_choice(text: str, count: int, *, max_selections: int | None = None) -> tuple[int, ...]:
    """Option numbers (1-based, sorted, unique) from ``1,3`` / ``1 3`` / ``keine`` or
    ``none`` (→ ()).

    The user's words are never repeated in the error: they might be a name.
    """
    if count < 1:
        raise ValueError("count must be at least 1")
    example = Msg(
        N_("Bitte Nummern zwischen 1 und %(count)s angeben, z. B. „1,3“ oder „1 3“, oder „keine“."),
        count=count,
    )

    def refuse(text: Msg) -> ArgumentError:
        return ArgumentError(Joined(text, example))

    tokens = [token for token in _SEPARATORS.split(text.strip()) if token]
    if not tokens:
        raise refuse(Msg(N_("Keine Auswahl angegeben.")))
    if len(tokens) == 1 and tokens[0].casefold() in _NONE:
        return ()
    if any(token.casefold() in _NONE for token in tokens):
        raise refuse(Msg(N_("„keine“ bitte allein angeben, nicht zusammen mit Nummern.")))
    if not all(_NUMBER.fullmatch(token) for token in tokens):
        raise refuse(Msg(N_("Die Auswahl enthält etwas anderes als Nummern.")))
    numbers = sorted({int(token) for token in tokens})
    if numbers[0] < 1 or numbers[-1] > count:
        raise refuse(Msg(N_("Es gibt nur die Optionen 1 bis %(count)s."), count=count))
    if max_selections is not None and len(numbers) > max_selections:
        raise ArgumentError(
            Plural(
                "Höchstens %(count)d Option wählbar, angegeben: %(given)s.",
                "Höchstens %(count)d Optionen wählbar, angegeben: %(given)s.",
                max_selections,
                given=len(numbers),
            )
        )
    return tuple(numbers)
