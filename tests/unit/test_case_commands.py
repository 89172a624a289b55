"""Case commands end to end through the real engine: pseudonyms, consent, requests, § 8a.

Every command goes through ``Engine.ingest`` with a real database (SQLite and
PostgreSQL) and a configured organisation; replies are read back from the outbox,
state from the tables, and the audit trail from the hash chain.
"""

from __future__ import annotations

import itertools
import logging
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, date, datetime

import pytest

from bot.clock import FakeClock
from bot.ids import UserId
from bot.testing.harness import (
    AA,
    ADMIN,
    JA1,
    JA2,
    JC,
    MOD,
    NEW_CASE,
    NOBODY,
    PREFIX,
    USERS,
    Room,
    items_after,
)
from bot.testing.harness import ORG as HARNESS_ORG
from commands.casework import audit
from commands.core import build_registry
from commands.framework import CommandContext, CommandRegistry
from commands.pdguard import scan
from commands.reply import Reply
from domain.calendar import Calendar
from domain.errors import ArgumentError
from domain.pseudonym import ALPHABET, Pseudonym, check_char, new_pseudonym
from storage.models import (
    CaseFile,
    ConferenceRequest,
)
from storage.uow import Database

REASONS = ("kw-gefaehrdung", "vernachlaessigung", "gewalt")
# The harness's organisation, with one more § 8a reason code.
ORG = replace(HARNESS_ORG, schutzauftrag_reasons=REASONS)
TODAY = date(2026, 11, 23)
NAMES = {key: inst.name for key, inst in ORG.institutions.items()}

NOT_COVERED = "keine Einwilligung nennt diese Institution"
WAITING = "wartet auf Einwilligung"
BASIS_8A = "§ 8a SGB VIII"


@pytest.fixture
def clock() -> FakeClock:
    # Monday 23.11.2026, 10:00 in Berlin.
    return FakeClock(datetime(2026, 11, 23, 9, 0, tzinfo=UTC))


def case_room(db: Database, clock: FakeClock, registry: CommandRegistry | None = None) -> Room:
    """The bot with the case organisation and the engine's default calendar."""
    return Room(db, clock, Calendar(), org=ORG, registry=registry)


@pytest.fixture
def room(database: Database, clock: FakeClock) -> Room:
    return case_room(database, clock)


# -- reading replies ------------------------------------------------------------------------


def missing_lines(*pairs: tuple[str, str]) -> list[str]:
    return [f"{NAMES[key]}: {reason}" for key, reason in pairs]


def unused_pseudonym(*taken: str) -> str:
    """A well-formed pseudonym of no case, one the personal-data guard lets through."""
    while True:
        candidate = new_pseudonym()
        if candidate not in taken and not scan(candidate, TODAY):
            return candidate


def assert_usage(reply: str, command: str) -> None:
    usage = next(s for s in build_registry() if s.name == command).usage(PREFIX)
    assert f"Aufruf: `{usage}`" in reply, reply


# -- fall neu ---------------------------------------------------------------------------------


def test_fall_neu_gives_a_pseudonym_records_the_owner_and_audits(room: Room) -> None:
    reply = room.say(JA1, "fall neu")

    match = NEW_CASE.search(reply)
    assert match is not None, reply
    pseudonym = match.group(1)
    assert Pseudonym.convert(pseudonym) == pseudonym  # check character valid
    assert "fallführend: Jugendamt Wetteraukreis" in reply
    assert f"`{PREFIX} einwilligung {pseudonym} …`" in reply
    case = room.case(pseudonym)
    assert case is not None
    assert (case.owner_institution, case.created_by, case.state) == ("jugendamt", JA1, "offen")
    [entry] = room.audit()
    assert (entry.action, entry.actor, entry.institution, entry.pseudonym) == (
        "fall_angelegt",
        JA1,
        "jugendamt",
        pseudonym,
    )


def test_fall_neu_owner_is_the_senders_institution(room: Room) -> None:
    pseudonym = room.new_case(JC)
    case = room.case(pseudonym)
    assert case is not None
    assert case.owner_institution == "jobcenter"
    assert room.audit(pseudonym)[0].institution == "jobcenter"


def test_each_case_gets_its_own_pseudonym(room: Room) -> None:
    first, second = room.new_case(), room.new_case()
    assert first != second
    assert room.counts()["case_file"] == 2


def test_fall_neu_refuses_a_user_without_institution_and_writes_nothing(room: Room) -> None:
    before = room.counts()
    reply = room.say(NOBODY, "fall neu")
    assert "keiner Institution zugeordnet" in reply
    assert "Neuer Fall" not in reply
    assert room.counts() == before
    assert room.last_inbox_outcome() == "user_error"


@pytest.mark.parametrize("sender", [MOD, ADMIN], ids=["moderation", "admin"])
def test_fall_neu_needs_the_fachkraft_role(room: Room, sender: UserId) -> None:
    before = room.counts()
    reply = room.say(sender, "fall neu")
    assert f"„{PREFIX} fall neu“ ist der Rolle „fachkraft“ vorbehalten." in reply
    assert room.counts() == before


# -- pseudonyms -------------------------------------------------------------------------------


def _pseudonym_ending_in(tail: str) -> str:
    """A well-formed pseudonym whose last two characters are ``tail``."""
    for body in itertools.product(ALPHABET, repeat=4):
        candidate = "".join(body) + tail[0]
        if check_char(candidate) == tail[1]:
            return f"FK-{candidate[:4]}-{candidate[4]}{tail[1]}"
    raise AssertionError(tail)


@pytest.mark.parametrize("tail", ["AZ", "GZ"])
def test_fall_neu_never_issues_a_pseudonym_the_guard_would_refuse(
    room: Room, monkeypatch: pytest.MonkeyPatch, tail: str
) -> None:
    refused = _pseudonym_ending_in(tail)
    assert scan(refused, TODAY)  # "AZ"/"GZ" read as Aktenzeichen
    fine = _pseudonym_ending_in("B2")
    issued = iter([refused, fine])
    monkeypatch.setattr("commands.cases.new_pseudonym", lambda seed=None: next(issued))

    pseudonym = room.new_case()

    assert pseudonym == fine
    assert room.case(refused) is None
    assert "Einwilligung v1" in room.consent(pseudonym, "jobcenter")


def _typos(pseudonym: str) -> Iterator[str]:
    """Every single wrong character and every swap of two neighbours, in canonical form."""
    chars = pseudonym.removeprefix("FK-").replace("-", "")
    for i, original in enumerate(chars):
        for replacement in ALPHABET:
            if replacement != original:
                wrong = chars[:i] + replacement + chars[i + 1 :]
                yield f"FK-{wrong[:4]}-{wrong[4:]}"
    for i in range(len(chars) - 1):
        if chars[i] != chars[i + 1]:
            swapped = chars[:i] + chars[i + 1] + chars[i] + chars[i + 2 :]
            yield f"FK-{swapped[:4]}-{swapped[4:]}"


def test_a_mistyped_pseudonym_never_shows_another_case(room: Room) -> None:
    target, other = room.new_case(), room.new_case()
    room.consent(other, "jobcenter")
    room.ask_for_conference(other, "jobcenter")
    typos = sorted(set(_typos(target)) - {other})
    replies = room.say_all(JC, [f"status {t}" for t in typos])
    for typo, reply in zip(typos, replies, strict=True):
        # A pseudonym-shaped token is no personal data even when it spells "AZ" (the
        # dispatcher leaves it out of what the guard reads): every typo is parsed.
        assert reply.startswith("⚠️ Unbekannter Fall"), (typo, reply)
        assert "Prüfzeichen" in reply, (typo, reply)
        assert_usage(reply, "status")
        assert target not in reply
        assert other not in reply
        assert "Jobcenter" not in reply  # nothing of the other case's data


def test_a_valid_but_unknown_pseudonym_is_an_unknown_case(room: Room) -> None:
    known = room.new_case()
    unknown = unused_pseudonym(known)
    reply = room.say(JA1, f"status {unknown}")
    assert reply.startswith("⚠️ Unbekannter Fall: unter diesem Pseudonym ist kein Fall erfasst.")
    assert "Prüfzeichen" not in reply
    assert known not in reply
    assert_usage(reply, "status")


def test_a_lower_case_pseudonym_names_the_same_case(room: Room) -> None:
    pseudonym = room.new_case()
    for spelling in (pseudonym.lower(), pseudonym.lower().replace("-", "")):
        reply = room.say(JC, f"status {spelling}")
        assert reply.startswith(f"Fall {pseudonym} – fallführend: Jugendamt"), reply
    room.consent(pseudonym.lower(), "jobcenter")
    assert [c.case_pseudonym for c in room.consents(pseudonym)] == [pseudonym]


def test_a_pseudonym_with_look_alike_characters_is_refused(room: Room) -> None:
    room.new_case()
    reply = room.say(JA1, "status FK-0OI1-LB")
    assert reply.startswith("⚠️ Unbekannter Fall")
    assert "0OI1" not in reply


# -- einwilligung ------------------------------------------------------------------------------

FULL_CONSENT = "von=sorgeberechtigte an=jobcenter form=schriftlich datum=20.11.2026 dok=EW-17"


@pytest.mark.parametrize("option", ["von", "an", "form", "datum", "dok"])
def test_einwilligung_without_a_required_option_explains_the_usage(room: Room, option: str) -> None:
    pseudonym = room.new_case()
    args = " ".join(part for part in FULL_CONSENT.split() if not part.startswith(f"{option}="))
    before = room.counts()
    reply = room.say(JA1, f"einwilligung {pseudonym} {args}")
    assert reply.startswith(f"⚠️ Es fehlt die Angabe <{option}>."), reply
    assert_usage(reply, "einwilligung")
    assert f"Mehr dazu: `{PREFIX} hilfe einwilligung`" in reply
    assert room.counts() == before


@pytest.mark.parametrize("given", ["morgen", "24.11.2026", "2026-12-01"])
def test_einwilligung_in_the_future_is_refused(room: Room, given: str) -> None:
    pseudonym = room.new_case()
    before = room.counts()
    reply = room.consent(pseudonym, "jobcenter", given=given)
    assert "Das Datum der Einwilligung darf nicht in der Zukunft liegen." in reply
    assert_usage(reply, "einwilligung")
    assert room.counts() == before


def test_einwilligung_given_today_is_accepted(room: Room) -> None:
    pseudonym = room.new_case()
    reply = room.consent(pseudonym, "jobcenter", given="heute")
    assert "erteilt am 23.11.2026" in reply
    assert [c.given_on.isoformat() for c in room.consents(pseudonym)] == ["2026-11-23"]


def test_einwilligung_ending_before_it_was_given_is_refused(room: Room) -> None:
    pseudonym = room.new_case()
    before = room.counts()
    reply = room.consent(pseudonym, "jobcenter", extra="bis=19.11.2026")
    assert "„bis“ liegt vor dem Datum der Einwilligung." in reply
    assert_usage(reply, "einwilligung")
    assert room.counts() == before


@pytest.mark.parametrize("sender", [JC, AA])
def test_only_the_owner_institution_records_consent(room: Room, sender: UserId) -> None:
    pseudonym = room.new_case(JA1)
    before = room.counts()
    reply = room.consent(pseudonym, "jobcenter", sender=sender)
    assert (
        "Einwilligungen erfasst nur eine Fachkraft der fallführenden Institution "
        "(Jugendamt Wetteraukreis)." in reply
    )
    assert room.counts() == before
    # Any fachkraft of the owner institution may, not only the one who registered it.
    assert "Einwilligung v1" in room.consent(pseudonym, "jobcenter", sender=JA2)


def test_einwilligung_versions_are_never_overwritten(room: Room) -> None:
    pseudonym = room.new_case()
    first = room.consent(pseudonym, "jobcenter,jugendamt", doc="EW-17", extra="bis=31.12.2026")
    second = room.consent(
        pseudonym, "agentur", grantor="betroffene_person", given="21.11.2026", doc="EW-18"
    )
    assert first.startswith(f"📝 Einwilligung v1 für {pseudonym} erfasst: ")
    assert "Jobcenter Wetteraukreis, Jugendamt Wetteraukreis – erteilt am 20.11.2026" in first
    assert "gültig bis 31.12.2026." in first
    assert second.startswith(f"📝 Einwilligung v2 für {pseudonym} erfasst: Agentur für Arbeit")
    assert "unbefristet." in second

    rows = room.consents(pseudonym)
    assert [(c.version, c.grantor, c.recipients, c.document_ref) for c in rows] == [
        (1, "sorgeberechtigte", ["jobcenter", "jugendamt"], "EW-17"),
        (2, "betroffene_person", ["agentur"], "EW-18"),
    ]
    assert rows[0].expires_on is not None
    assert rows[0].expires_on.isoformat() == "2026-12-31"
    assert (rows[0].recorded_by, rows[0].recorded_institution) == (JA1, "jugendamt")
    assert rows[1].purpose == "fallkonferenz"

    entries = [e for e in room.audit(pseudonym) if e.action == "einwilligung_erfasst"]
    assert [(e.actor, e.detail["version"], e.detail["an"]) for e in entries] == [
        (JA1, 1, ["jobcenter", "jugendamt"]),
        (JA1, 2, ["agentur"]),
    ]
    assert entries[0].detail["bis"] == "2026-12-31"
    assert "bis" not in entries[1].detail
    # The audit keeps codes, never the document reference.
    assert all("EW-1" not in str(e.detail) for e in entries)


def test_versions_count_per_case(room: Room) -> None:
    first, second = room.new_case(), room.new_case()
    room.consent(first, "jobcenter")
    reply = room.consent(second, "jobcenter")
    assert "Einwilligung v1" in reply


# -- the issue's play -------------------------------------------------------------------------


def test_request_waits_for_consent_becomes_ready_and_waits_again_after_revocation(
    room: Room,
) -> None:
    pseudonym = room.new_case(JA1)

    # 1. A request without any consent: waits, names every missing institution.
    reply = room.ask_for_conference(pseudonym, "jugendamt,agentur,traeger-xyz", sender=JC)
    [request] = room.requests(pseudonym)
    assert reply.startswith(f"📨 Anfrage #{request.id} für {pseudonym}: Ausbildung, regulär, ")
    assert "⏸️ Status: wartet auf Einwilligung. Es fehlt:" in reply
    assert items_after(reply, "Es fehlt:") == missing_lines(
        ("agentur", NOT_COVERED),
        ("jobcenter", NOT_COVERED),
        ("jugendamt", NOT_COVERED),
        ("traeger-xyz", NOT_COVERED),
    )
    assert (request.state, request.basis) == ("wartet_einwilligung", None)
    assert request.participants == ["agentur", "jobcenter", "jugendamt", "traeger-xyz"]
    assert (request.requested_by, request.requesting_institution) == (JC, "jobcenter")
    assert room.actions(pseudonym) == ["fall_angelegt", "anfrage_gestellt", "gate_abgelehnt"]
    rejected = room.audit(pseudonym)[-1]
    assert rejected.detail["anfrage"] == request.id
    assert rejected.detail["fehlend"] == ["agentur", "jobcenter", "jugendamt", "traeger-xyz"]

    # 2. Consent for some: the request still waits, for exactly the rest.
    reply = room.consent(pseudonym, "jugendamt,jobcenter", sender=JA1)
    assert reply.startswith(f"📝 Einwilligung v1 für {pseudonym} erfasst")
    assert "bereit" not in reply
    assert items_after(reply, f"Anfrage #{request.id} wartet weiterhin") == missing_lines(
        ("agentur", NOT_COVERED), ("traeger-xyz", NOT_COVERED)
    )
    status = room.say(JC, f"status {pseudonym}")
    assert "Einwilligung heute: Jobcenter Wetteraukreis, Jugendamt Wetteraukreis" in status
    assert items_after(status, f"Für #{request.id} fehlt:") == missing_lines(
        ("agentur", NOT_COVERED), ("traeger-xyz", NOT_COVERED)
    )
    assert f"#{request.id} {pseudonym} – Ausbildung, regulär, von Jobcenter" in status
    [request] = room.requests(pseudonym)
    assert request.state == "wartet_einwilligung"
    assert room.actions(pseudonym)[3:] == ["einwilligung_erfasst"]

    # 3. Consent for the rest: the request is ready.
    reply = room.consent(pseudonym, "agentur,traeger-xyz", sender=JA2, doc="EW-18")
    assert "Einwilligung v2" in reply
    assert f"✅ Anfrage #{request.id} ist jetzt bereit." in reply
    assert "wartet" not in reply
    [request] = room.requests(pseudonym)
    assert (request.state, request.basis) == ("bereit", "einwilligung")
    assert room.actions(pseudonym)[4:] == ["einwilligung_erfasst", "anfrage_bereit"]
    ready = room.audit(pseudonym)[-1]
    assert ready.detail == {"anfrage": request.id, "grundlage": "einwilligung"}
    status = room.say(JC, f"status {pseudonym}")
    assert "fehlt" not in status
    assert f"#{request.id} {pseudonym} – Ausbildung, regulär, von Jobcenter" in status
    assert status.rstrip().endswith(": bereit")

    # 4. Partial revocation: waits again, names the revoked institution.
    reply = room.say(JA1, f"widerruf {pseudonym} agentur")
    assert reply.startswith(
        f"🛑 Widerruf für {pseudonym} erfasst (Agentur für Arbeit Gießen), gilt ab sofort."
    )
    assert f"⏸️ Anfrage #{request.id} wartet wieder auf Einwilligung:" in reply
    assert items_after(reply, "wartet wieder auf Einwilligung") == [
        "Agentur für Arbeit Gießen: widerrufen (Einwilligung v2)"
    ]
    [request] = room.requests(pseudonym)
    assert (request.state, request.basis) == ("wartet_einwilligung", None)
    assert room.actions(pseudonym)[6:] == ["widerruf_erfasst", "anfrage_wartet"]
    revoked, waiting = room.audit(pseudonym)[-2:]
    assert revoked.detail == {"institutionen": ["agentur"]}
    assert waiting.detail == {"anfrage": request.id}
    status = room.say(JC, f"status {pseudonym}")
    assert items_after(status, f"Für #{request.id} fehlt:") == [
        "Agentur für Arbeit Gießen: widerrufen (Einwilligung v2)"
    ]
    assert "Einwilligung heute: Jobcenter Wetteraukreis, Jugendamt Wetteraukreis, Träger XYZ" in (
        status
    )

    # Nothing was overwritten; the chain holds.
    assert [c.version for c in room.consents(pseudonym)] == [1, 2]
    assert room.actions(pseudonym) == [
        "fall_angelegt",
        "anfrage_gestellt",
        "gate_abgelehnt",
        "einwilligung_erfasst",
        "einwilligung_erfasst",
        "anfrage_bereit",
        "widerruf_erfasst",
        "anfrage_wartet",
    ]
    assert [e.actor for e in room.audit(pseudonym)] == [JA1, JC, JC, JA1, JA2, JA2, JA1, JA1]
    assert room.audit_verdict_ok()


def test_full_revocation_without_institutions_covers_everyone(room: Room) -> None:
    pseudonym = room.new_case()
    room.consent(pseudonym, "jobcenter,jugendamt")
    room.ask_for_conference(pseudonym, "jugendamt", sender=JC)
    reply = room.say(JA1, f"widerruf {pseudonym}")
    assert "erfasst (alle Institutionen)" in reply
    assert items_after(reply, "wartet wieder auf Einwilligung") == missing_lines(
        ("jobcenter", "widerrufen (Einwilligung v1)"),
        ("jugendamt", "widerrufen (Einwilligung v1)"),
    )
    assert room.audit(pseudonym)[-2].detail == {"institutionen": "alle"}


def test_only_the_owner_institution_revokes(room: Room) -> None:
    pseudonym = room.new_case()
    room.consent(pseudonym, "jobcenter")
    before = room.counts()
    reply = room.say(JC, f"widerruf {pseudonym} jobcenter")
    assert "Widerrufe erfasst nur eine Fachkraft der fallführenden Institution" in reply
    assert room.counts() == before


def test_consent_given_after_a_revocation_covers_again(room: Room) -> None:
    pseudonym = room.new_case()
    room.consent(pseudonym, "jobcenter,jugendamt")
    room.ask_for_conference(pseudonym, "jugendamt", sender=JC)
    room.say(JA1, f"widerruf {pseudonym} jobcenter")
    reply = room.consent(pseudonym, "jobcenter", given="heute", doc="EW-19")
    assert "Einwilligung v2" in reply
    assert "ist jetzt bereit." in reply
    assert room.requests(pseudonym)[0].state == "bereit"


def test_the_requesting_institution_always_takes_part(room: Room) -> None:
    pseudonym = room.new_case(JA1)
    reply = room.ask_for_conference(pseudonym, "agentur", sender=JC)
    assert "Teilnehmende: Agentur für Arbeit Gießen, Jobcenter Wetteraukreis." in reply
    assert items_after(reply, "Es fehlt:") == missing_lines(
        ("agentur", NOT_COVERED), ("jobcenter", NOT_COVERED)
    )
    assert room.requests(pseudonym)[0].participants == ["agentur", "jobcenter"]
    # Consent for the named institution alone is not enough.
    room.consent(pseudonym, "agentur")
    assert room.requests(pseudonym)[0].state == "wartet_einwilligung"
    room.consent(pseudonym, "jobcenter")
    assert room.requests(pseudonym)[0].state == "bereit"


def test_a_request_with_complete_consent_is_ready_at_once(room: Room) -> None:
    pseudonym = room.new_case(JA1)
    room.consent(pseudonym, "jugendamt,agentur")
    reply = room.ask_for_conference(pseudonym, "agentur", sender=JA2, extra="bis=15.01.2027")
    assert ", spätestens 15.01.2027." in reply
    assert "✅ Einwilligung geprüft: die Anfrage ist bereit für die Planung." in reply
    assert "§ 8a" not in reply
    [request] = room.requests(pseudonym)
    assert (request.state, request.basis) == ("bereit", "einwilligung")
    assert request.latest_date is not None
    assert request.latest_date.isoformat() == "2027-01-15"
    assert room.actions(pseudonym)[-1] == "anfrage_gestellt"  # no gate_abgelehnt


def test_consent_expiring_today_still_counts(room: Room) -> None:
    today_case, yesterday_case = room.new_case(), room.new_case()
    room.consent(today_case, "jobcenter", extra="bis=23.11.2026")
    room.consent(yesterday_case, "jobcenter", extra="bis=22.11.2026")

    ready = room.ask_for_conference(today_case, "jobcenter", sender=JC)
    assert "bereit für die Planung" in ready
    assert room.requests(today_case)[0].state == "bereit"

    waiting = room.ask_for_conference(yesterday_case, "jobcenter", sender=JC)
    assert items_after(waiting, "Es fehlt:") == missing_lines(
        ("jobcenter", "Einwilligung abgelaufen (Einwilligung v1)")
    )
    assert room.requests(yesterday_case)[0].state == "wartet_einwilligung"

    shown = room.say(JC, f"einwilligung zeigen {today_case}")
    assert "Jobcenter Wetteraukreis: abgedeckt bis 23.11.2026" in shown


def test_entrusted_data_needs_the_entrusting_persons_consent(room: Room) -> None:
    pseudonym = room.new_case()
    room.consent(pseudonym, "jobcenter,jugendamt", grantor="sorgeberechtigte")

    plain = room.ask_for_conference(pseudonym, "jugendamt", sender=JC, extra="anvertraut=nein")
    assert "bereit für die Planung" in plain

    entrusted = room.ask_for_conference(pseudonym, "jugendamt", sender=JC, extra="anvertraut=ja")
    grantor_reason = (
        "anvertraute Daten (§ 65 SGB VIII): Einwilligung nicht von der anvertrauenden Person "
        "(Einwilligung v1)"
    )
    assert items_after(entrusted, "Es fehlt:") == missing_lines(
        ("jobcenter", grantor_reason), ("jugendamt", grantor_reason)
    )
    first, second = room.requests(pseudonym)
    assert (first.entrusted, first.state) == (False, "bereit")
    assert (second.entrusted, second.state) == (True, "wartet_einwilligung")

    reply = room.consent(
        pseudonym, "jobcenter,jugendamt", grantor="anvertrauende_person", doc="EW-20"
    )
    assert f"✅ Anfrage #{second.id} ist jetzt bereit." in reply
    assert f"#{first.id} " not in reply  # already ready, unchanged
    assert [r.state for r in room.requests(pseudonym)] == ["bereit", "bereit"]


# -- einwilligung zeigen ---------------------------------------------------------------------


def test_einwilligung_zeigen_details_only_for_the_owner_institution(room: Room) -> None:
    pseudonym = room.new_case(JA1)
    room.consent(pseudonym, "jugendamt,jobcenter", doc="EW-17", extra="bis=31.12.2026")
    room.consent(pseudonym, "agentur", grantor="betroffene_person", doc="AKTE-77")
    room.say(JA1, f"widerruf {pseudonym} agentur")

    owner = room.say(JA2, f"einwilligung zeigen {pseudonym}")
    assert owner.startswith(f"Einwilligungen für {pseudonym} (Stand 23.11.2026)")
    assert "Jobcenter Wetteraukreis: abgedeckt bis 31.12.2026" in owner
    assert "Agentur für Arbeit Gießen: nicht abgedeckt" in owner
    assert "Einzelheiten (nur für die fallführende Institution):" in owner
    assert "v1: sorgeberechtigte, schriftlich, erteilt 20.11.2026, bis 31.12.2026" in owner
    assert "Verweis `EW-17`" in owner
    assert "v2: betroffene_person" in owner
    assert "Verweis `AKTE-77`" in owner
    assert "Widerruf vom 23.11.2026: agentur" in owner

    other = room.say(JC, f"einwilligung zeigen {pseudonym}")
    assert "Jobcenter Wetteraukreis: abgedeckt bis 31.12.2026" in other
    assert "Jugendamt Wetteraukreis: abgedeckt bis 31.12.2026" in other
    assert "Agentur für Arbeit Gießen: nicht abgedeckt" in other
    for secret in (
        "EW-17",
        "AKTE-77",
        "sorgeberechtigte",
        "betroffene_person",
        "schriftlich",
        "Verweis",
        "Einzelheiten",
        "Widerruf",
    ):
        assert secret not in other, secret


def test_einwilligung_zeigen_without_consent(room: Room) -> None:
    pseudonym = room.new_case()
    reply = room.say(AA, f"einwilligung zeigen {pseudonym}")
    assert "Noch keine Einwilligung erfasst." in reply


def test_case_data_needs_an_institution(room: Room) -> None:
    pseudonym = room.new_case()
    room.consent(pseudonym, "jobcenter")
    room.ask_for_conference(pseudonym, "jobcenter")
    for command in (f"einwilligung zeigen {pseudonym}", f"status {pseudonym}", "anfragen"):
        reply = room.say(NOBODY, command)
        assert "Du bist keiner Institution zugeordnet" in reply, command
        assert pseudonym not in reply
        assert "EW-17" not in reply


# -- Schutzauftrag (§ 8a SGB VIII) ----------------------------------------------------------


def test_schutzauftrag_four_eyes_makes_waiting_requests_ready_and_back(room: Room) -> None:
    pseudonym = room.new_case(JA1)
    room.ask_for_conference(pseudonym, "jugendamt,agentur", sender=JC)
    [request] = room.requests(pseudonym)
    assert request.state == "wartet_einwilligung"

    # Opened by one Jugendamt professional: recorded, but not yet in force.
    reply = room.say(JA1, f"schutzauftrag {pseudonym} grund=kw-gefaehrdung")
    assert reply.startswith(
        f"🛡️ Schutzauftrag (§ 8a SGB VIII) für {pseudonym} eröffnet, Grund kw-gefaehrdung."
    )
    assert f"`{PREFIX} schutzauftrag bestätigen {pseudonym}`" in reply
    [row] = room.schutzauftraege(pseudonym)
    assert (row.state, row.reason_code, row.legal_basis, row.opened_by) == (
        "offen",
        "kw-gefaehrdung",
        BASIS_8A,
        JA1,
    )
    assert room.requests(pseudonym)[0].state == "wartet_einwilligung"
    opened = room.audit(pseudonym)[-1]
    assert (opened.action, opened.actor, opened.detail["grund"]) == (
        "schutzauftrag_eroeffnet",
        JA1,
        "kw-gefaehrdung",
    )

    # The same person cannot confirm; nor can the Jobcenter.
    for sender, refusal in (
        (JA1, "Vier-Augen-Prinzip"),
        (JC, "nur Fachkräfte des Jugendamts"),
        (MOD, "ist der Rolle „fachkraft“ vorbehalten"),
    ):
        before = room.counts()
        reply = room.say(sender, f"schutzauftrag bestätigen {pseudonym}")
        assert reply.startswith("⚠️ "), reply
        assert refusal in reply, reply
        assert room.counts() == before
        [row] = room.schutzauftraege(pseudonym)
        assert (row.state, row.confirmed_by, row.confirmed_at) == ("offen", None, None)
        assert room.requests(pseudonym)[0].state == "wartet_einwilligung"

    # A second opening while one is pending is refused.
    reply = room.say(JA2, f"schutzauftrag {pseudonym} grund=gewalt")
    assert f"Für {pseudonym} besteht bereits ein Schutzauftrag (offen)." in reply
    assert len(room.schutzauftraege(pseudonym)) == 1

    # A different Jugendamt professional confirms: the waiting request becomes ready.
    reply = room.say(JA2, f"schutzauftrag bestätigen {pseudonym}")
    assert reply.startswith(f"🛡️ Schutzauftrag für {pseudonym} bestätigt (§ 8a SGB VIII).")
    assert f"✅ Anfrage #{request.id} ist jetzt bereit (Schutzauftrag § 8a)." in reply
    [row] = room.schutzauftraege(pseudonym)
    assert (row.state, row.confirmed_by) == ("bestätigt", JA2)
    [request] = room.requests(pseudonym)
    assert (request.state, request.basis) == ("bereit", BASIS_8A)
    confirmed, ready = room.audit(pseudonym)[-2:]
    assert (confirmed.action, confirmed.actor) == ("schutzauftrag_bestaetigt", JA2)
    assert confirmed.detail["rechtsgrundlage"] == BASIS_8A
    assert confirmed.detail["grund"] == "kw-gefaehrdung"
    assert (ready.action, ready.detail) == (
        "anfrage_bereit",
        {"anfrage": request.id, "grundlage": BASIS_8A},
    )

    # Marked as § 8a in the lists.
    listing = room.say(AA, "anfragen")
    assert f"#{request.id} {pseudonym} – Ausbildung, regulär, von Jobcenter Wetteraukreis: " in (
        listing
    )
    assert listing.rstrip().endswith("bereit · § 8a")
    status = room.say(AA, f"status {pseudonym}")
    assert "Schutzauftrag (§ 8a SGB VIII, Grund kw-gefaehrdung): bestätigt" in status
    assert "bereit · § 8a" in status
    assert "fehlt" not in status

    # While in force: no second one, and new requests are ready without consent.
    reply = room.say(JA1, f"schutzauftrag {pseudonym} grund=gewalt")
    assert f"Für {pseudonym} besteht bereits ein Schutzauftrag (bestätigt)." in reply
    reply = room.ask_for_conference(pseudonym, "traeger-xyz", sender=AA)
    assert (
        "✅ Bereit für die Planung – ohne Einwilligung (Schutzauftrag § 8a SGB VIII bestätigt)."
        in reply
    )
    first, second = room.requests(pseudonym)
    assert (second.state, second.basis) == ("bereit", BASIS_8A)

    # The Jobcenter cannot end it; the Jugendamt can, and the requests wait again.
    before = room.counts()
    reply = room.say(JC, f"schutzauftrag beenden {pseudonym}")
    assert "nur Fachkräfte des Jugendamts" in reply
    assert room.counts() == before
    assert room.schutzauftraege(pseudonym)[0].state == "bestätigt"

    reply = room.say(JA1, f"schutzauftrag beenden {pseudonym}")
    assert reply.startswith(f"Schutzauftrag für {pseudonym} beendet.")
    assert f"⏸️ Anfrage #{first.id} wartet wieder auf Einwilligung:" in reply
    assert f"⏸️ Anfrage #{second.id} wartet wieder auf Einwilligung:" in reply
    assert [(r.state, r.basis) for r in room.requests(pseudonym)] == [
        ("wartet_einwilligung", None),
        ("wartet_einwilligung", None),
    ]
    assert room.schutzauftraege(pseudonym)[0].state == "beendet"
    assert "§ 8a" not in room.say(AA, "anfragen")

    # Ended: a new one may be opened; a second end is refused.
    assert "besteht kein Schutzauftrag" in room.say(JA2, f"schutzauftrag beenden {pseudonym}")
    assert "eröffnet" in room.say(JA2, f"schutzauftrag {pseudonym} grund=gewalt")

    assert room.actions(pseudonym) == [
        "fall_angelegt",
        "anfrage_gestellt",
        "gate_abgelehnt",
        "schutzauftrag_eroeffnet",
        "schutzauftrag_bestaetigt",
        "anfrage_bereit",
        "anfrage_gestellt",
        "schutzauftrag_beendet",
        "anfrage_wartet",
        "anfrage_wartet",
        "schutzauftrag_eroeffnet",
    ]
    assert room.audit_verdict_ok()


def test_schutzauftrag_only_for_jugendamt_fachkraefte(room: Room) -> None:
    pseudonym = room.new_case(JC)
    before = room.counts()
    jobcenter = room.say(JC, f"schutzauftrag {pseudonym} grund=kw-gefaehrdung")
    assert (
        "⚠️ Den Schutzauftrag nach § 8a SGB VIII führen nur Fachkräfte des Jugendamts." in jobcenter
    )
    moderator = room.say(MOD, f"schutzauftrag {pseudonym} grund=kw-gefaehrdung")
    assert f"„{PREFIX} schutzauftrag“ ist der Rolle „fachkraft“ vorbehalten." in moderator
    agentur = room.say(AA, f"schutzauftrag {pseudonym} grund=kw-gefaehrdung")
    assert "nur Fachkräfte des Jugendamts" in agentur
    assert room.counts() == before
    # A Jugendamt professional may open it even for a case another institution leads.
    assert "eröffnet" in room.say(JA1, f"schutzauftrag {pseudonym} grund=kw-gefaehrdung")


def test_schutzauftrag_with_an_unknown_reason_lists_the_codes(room: Room) -> None:
    pseudonym = room.new_case()
    before = room.counts()
    reply = room.say(JA1, f"schutzauftrag {pseudonym} grund=langeweile")
    assert "Unbekannter Grund-Code. Möglich sind: " + ", ".join(REASONS) in reply
    assert_usage(reply, "schutzauftrag")
    assert "langeweile" not in reply
    assert room.counts() == before


def test_schutzauftrag_confirm_without_an_open_one(room: Room) -> None:
    pseudonym = room.new_case()
    reply = room.say(JA2, f"schutzauftrag bestätigen {pseudonym}")
    assert f"Für {pseudonym} wartet kein Schutzauftrag auf Bestätigung." in reply
    # The spelling without umlaut is the same command.
    reply = room.say(JA2, f"schutzauftrag bestaetigen {pseudonym}")
    assert f"Für {pseudonym} wartet kein Schutzauftrag auf Bestätigung." in reply


# -- wer / rollen --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("sender", "institution", "roles"),
    [
        (JA1, "Jugendamt Wetteraukreis (jugendamt)", "fachkraft"),
        (JC, "Jobcenter Wetteraukreis (jobcenter)", "fachkraft"),
        (MOD, "Jugendamt Wetteraukreis (jugendamt)", "moderation"),
        (ADMIN, "Träger XYZ (traeger-xyz)", "admin"),
    ],
)
def test_wer_shows_institution_and_roles(
    room: Room, sender: UserId, institution: str, roles: str
) -> None:
    reply = room.say(sender, "wer")
    assert reply == f"{sender}\n\nInstitution: {institution}\n\nRollen: {roles}"


def test_wer_for_a_user_without_institution(room: Room) -> None:
    reply = room.say(NOBODY, "wer")
    assert reply.startswith(f"{NOBODY}\n\nDu bist keiner Institution zugeordnet")
    assert "Rollen" not in reply


def test_wer_shows_moderation_from_the_power_level(room: Room) -> None:
    reply = room.say(JC, "wer", power_level=50)
    assert reply.endswith("Rollen: fachkraft, moderation")


@pytest.mark.parametrize("sender", [JA1, JC, NOBODY])
def test_rollen_needs_moderation(room: Room, sender: UserId) -> None:
    reply = room.say(sender, "rollen")
    assert reply.startswith(f"⚠️ „{PREFIX} rollen“ ist der Rolle „moderation“ vorbehalten.")
    assert JA2 not in reply


@pytest.mark.parametrize(
    ("sender", "power_level"), [(MOD, 0), (ADMIN, 0), (JC, 50)], ids=["mod", "admin", "power"]
)
def test_rollen_lists_everyone_for_moderation_and_admin(
    room: Room, sender: UserId, power_level: int
) -> None:
    reply = room.say(sender, "rollen", power_level=power_level)
    lines = items_after(reply, "Rollen")
    assert lines == [  # by institution key, then user
        f"`{AA}` – Agentur für Arbeit Gießen: fachkraft",
        f"`{JC}` – Jobcenter Wetteraukreis: fachkraft",
        f"`{JA1}` – Jugendamt Wetteraukreis: fachkraft",
        f"`{JA2}` – Jugendamt Wetteraukreis: fachkraft",
        f"`{MOD}` – Jugendamt Wetteraukreis: moderation",
        f"`{ADMIN}` – Träger XYZ: admin",
    ]
    assert NOBODY not in reply
    assert "ab Berechtigungsstufe 50" in reply


# -- personal data ------------------------------------------------------------------------------

CONSENT_ARGS = "von=sorgeberechtigte an=jobcenter form=schriftlich datum=20.11.2026"
REQUEST_ARGS = "thema=Familie dringlichkeit=dringend teilnehmer=jobcenter"

PERSONAL_DATA = [
    pytest.param(
        "einwilligung {p} " + CONSENT_ARGS + " dok=mutter.k@example.org",
        "E-Mail-Adresse",
        ("mutter.k@example.org", "mutter.k", "example.org"),
        id="email-in-dok",
    ),
    pytest.param(
        "anfrage {p} " + REQUEST_ARGS + " Rückruf 0171 2345678",
        "Telefonnummer",
        ("0171 2345678", "2345678", "Rückruf"),
        id="phone-as-text",
    ),
    pytest.param(
        "einwilligung {p} " + CONSENT_ARGS + " dok=+49-6031-123456",
        "Telefonnummer",
        ("+49-6031-123456", "123456"),
        id="phone-in-dok",
    ),
    pytest.param(
        "einwilligung {p} " + CONSENT_ARGS + " dok=DE89370400440532013000",
        "IBAN",
        ("DE89370400440532013000", "370400440532013000"),
        id="iban-in-dok",
    ),
    pytest.param(
        "einwilligung {p} " + CONSENT_ARGS + " dok=EW-17 geb. 03.04.2011",
        "Geburtsdatum",
        ("03.04.2011", "2011", "geb."),
        id="birthdate-as-text",
    ),
    pytest.param(
        "einwilligung {p} " + CONSENT_ARGS + " dok=14.07.2009",
        "Geburtsdatum",
        ("14.07.2009", "2009"),
        id="birthdate-as-reference",
    ),
    pytest.param(
        "einwilligung {p} " + CONSENT_ARGS + " dok=51.2-1234/2026",
        "Aktenzeichen",
        ("51.2-1234/2026", "1234/2026"),
        id="aktenzeichen-in-dok",
    ),
    pytest.param(
        "anfrage {p} " + REQUEST_ARGS + " Az. 4 F 123/25",
        "Aktenzeichen",
        ("4 F 123/25", "123/25", "Az."),
        id="aktenzeichen-as-text",
    ),
    pytest.param(
        "widerruf {p} jobcenter BG-Nr 12345BG0012345",
        "Aktenzeichen",
        ("12345BG0012345", "BG-Nr"),
        id="bg-nummer-in-widerruf",
    ),
]


@pytest.mark.parametrize(("template", "kind", "offending"), PERSONAL_DATA)
def test_personal_data_is_refused_not_echoed_not_logged_not_stored(
    room: Room,
    caplog: pytest.LogCaptureFixture,
    template: str,
    kind: str,
    offending: tuple[str, ...],
) -> None:
    pseudonym = room.new_case(JA1)
    room.consent(pseudonym, "jugendamt,jobcenter")
    before = room.counts()
    audit_before = room.actions()
    sender = JC if template.startswith("anfrage") else JA1

    with caplog.at_level(logging.DEBUG):
        reply = room.say(sender, template.format(p=pseudonym))

    assert reply.startswith("⚠️ Die Eingabe sieht nach personenbezogenen Daten aus ("), reply
    assert kind in reply
    assert "wurde nicht gespeichert" in reply
    for text in offending:
        assert text not in reply, text
        assert text not in caplog.text, text
    assert "Befehl " in caplog.text  # the log was captured: the engine's line is there
    assert room.counts() == before
    assert room.actions() == audit_before
    assert room.last_inbox_outcome() == "user_error"
    with room.db.uow() as uow:
        stored = " ".join(str(m.content) for m in uow.outbox.all())
    for text in offending:
        assert text not in stored, text


def test_a_consent_given_years_ago_is_a_date_not_a_birth_date(room: Room) -> None:
    """Date options are parsed strictly and left out of the guard; free text is not."""
    pseudonym = room.new_case()
    reply = room.consent(pseudonym, "jobcenter", given="20.11.2023")
    assert "Einwilligung v1" in reply, reply
    [consent] = room.consents(pseudonym)
    assert consent.given_on.isoformat() == "2023-11-20"
    impossible = room.consent(pseudonym, "jobcenter", given="31.02.2026")
    assert "gibt es nicht" in impossible
    assert "personenbezogen" not in impossible
    hidden = room.consent(pseudonym, "jobcenter", given="20.11.2023", doc="geb.14.02.1987")
    assert "Geburtsdatum" in hidden
    assert len(room.consents(pseudonym)) == 1


# -- refusals leave nothing behind --------------------------------------------------------------


AGENTUR_REQUEST = "anfrage {p} thema=Familie dringlichkeit=regulär teilnehmer=agentur"
REFUSALS = [
    (NOBODY, "fall neu", "keiner Institution zugeordnet"),
    (MOD, "fall neu", "vorbehalten"),
    (JC, "einwilligung {p} " + FULL_CONSENT, "fallführenden Institution"),
    (JA1, "einwilligung {p} " + FULL_CONSENT.replace("20.11.2026", "morgen"), "Zukunft"),
    (JA1, "einwilligung {p} " + FULL_CONSENT + " bis=01.11.2026", "„bis“ liegt vor"),
    (JA1, "einwilligung {p} " + FULL_CONSENT.replace("jobcenter", "sozialamt"), "Unbekannte Inst"),
    (JA1, "einwilligung {p} " + FULL_CONSENT.replace("schriftlich", "mündlich"), "<form>"),
    (JA1, "einwilligung {p} " + FULL_CONSENT.replace("sorgeberechtigte", "nachbarn"), "<von>"),
    (JA1, "einwilligung {p} " + FULL_CONSENT.replace("EW-17", "EW#17"), "Dokumentverweis"),
    (JA1, "einwilligung {p} " + FULL_CONSENT + " zweck=x1", "Der Zweck ist ein Wort"),
    (JA1, "einwilligung {p} " + FULL_CONSENT.replace("20.11.2026", "31.02."), "gibt es nicht"),
    (JA1, "einwilligung {p} " + FULL_CONSENT + " farbe=blau", "Unbekannte Option"),
    (JA1, "einwilligung {p} " + FULL_CONSENT + " nochwas", "Zu viele Angaben"),
    (JA1, "einwilligung {typo} " + FULL_CONSENT, "Prüfzeichen"),
    (JA1, "einwilligung {unknown} " + FULL_CONSENT, "kein Fall erfasst"),
    (JC, "widerruf {p}", "fallführenden Institution"),
    (JA1, "widerruf {p} sozialamt", "Unbekannte Institution"),
    (JC, AGENTUR_REQUEST.replace("Familie", "Urlaub"), "Unbekanntes Thema"),
    (JC, AGENTUR_REQUEST.replace("regulär", "sofort"), "<dringlichkeit>"),
    (JC, AGENTUR_REQUEST.removesuffix(" teilnehmer=agentur"), "<teilnehmer>"),
    (JC, AGENTUR_REQUEST.replace("teilnehmer=agentur", "teilnehmer="), "<teilnehmer>"),
    (JC, AGENTUR_REQUEST + " teilnehmer=", "teilnehmer= steht mehrfach"),
    (JC, AGENTUR_REQUEST + " bis=20.11.2026", "Das späteste Datum liegt in der Vergangenheit"),
    (JC, AGENTUR_REQUEST + " anvertraut=jein", "erwartet: ja oder nein"),
    (MOD, AGENTUR_REQUEST, "vorbehalten"),
    (JC, "schutzauftrag {p} grund=kw-gefaehrdung", "nur Fachkräfte des Jugendamts"),
    (MOD, "schutzauftrag {p} grund=kw-gefaehrdung", "vorbehalten"),
    (JA2, "schutzauftrag {p} grund=unbekannt", "Unbekannter Grund-Code"),
    (JA2, "schutzauftrag {p} grund=gewalt", "besteht bereits"),
    (JA1, "schutzauftrag bestätigen {p}", "Vier-Augen-Prinzip"),
    (JC, "schutzauftrag bestätigen {p}", "nur Fachkräfte des Jugendamts"),
    (AA, "schutzauftrag beenden {p}", "nur Fachkräfte des Jugendamts"),
    (JA1, "rollen", "vorbehalten"),
    (JA1, "einwilligung {p} " + FULL_CONSENT + " dok=EW-17 Tel. 06031 123456", "Telefonnummer"),
]


@pytest.mark.parametrize(
    ("sender", "template", "expected"),
    REFUSALS,
    ids=[f"{i:02d}-{t.split()[0]}" for i, (_, t, _) in enumerate(REFUSALS)],
)
def test_a_refused_command_leaves_no_audit_entry_and_no_data(
    room: Room, sender: UserId, template: str, expected: str
) -> None:
    pseudonym = room.new_case(JA1)
    room.consent(pseudonym, "jugendamt")
    room.ask_for_conference(pseudonym, "agentur", sender=JC)
    room.say(JA1, f"schutzauftrag {pseudonym} grund=kw-gefaehrdung")
    typo = next(t for t in _typos(pseudonym) if not scan(t, TODAY))
    unknown = unused_pseudonym(pseudonym)
    before, audit_before = room.counts(), room.actions()

    reply = room.say(sender, template.format(p=pseudonym, typo=typo, unknown=unknown))

    assert reply.startswith("⚠️ "), reply
    assert expected in reply, reply
    assert room.counts() == before
    assert room.actions() == audit_before
    assert room.last_inbox_outcome() == "user_error"
    [row] = room.schutzauftraege(pseudonym)
    assert (row.state, row.confirmed_by) == ("offen", None)
    assert [r.state for r in room.requests(pseudonym)] == ["wartet_einwilligung"]


def test_a_user_error_after_a_write_rolls_the_write_back(
    database: Database, clock: FakeClock
) -> None:
    """The engine discards the savepoint of a refused command, even after it wrote."""
    registry = build_registry()

    @registry.command("kaputt", summary="schreibt und scheitert")
    def kaputt(ctx: CommandContext) -> Reply:
        ctx.uow.cases.add(
            CaseFile(
                pseudonym="FK-TEST-XX",
                owner_institution="jugendamt",
                created_by=ctx.sender,
                created_at=ctx.now,
                state="offen",
            )
        )
        audit(ctx, "fall_angelegt", "FK-TEST-XX")
        raise ArgumentError("Das ging schief.")

    room = case_room(database, clock, registry)
    pseudonym = room.new_case()
    before = room.counts()
    reply = room.say(JA1, "kaputt")
    assert reply.startswith("⚠️ Das ging schief.")
    assert room.counts() == before
    assert room.case("FK-TEST-XX") is None
    assert room.actions() == ["fall_angelegt"]
    # The command after it writes normally and the chain stays intact.
    assert "Einwilligung v1" in room.consent(pseudonym, "jobcenter")
    assert room.audit_verdict_ok()


# -- anfragen -----------------------------------------------------------------------------------


def test_anfragen_lists_only_pseudonyms_and_only_open_requests(room: Room) -> None:
    assert room.say(JC, "anfragen") == "Offene Anfragen (0)\n\nKeine offenen Anfragen."
    first, second = room.new_case(JA1), room.new_case(JA2)
    room.consent(second, "agentur,jugendamt")
    room.ask_for_conference(first, "jugendamt", sender=JC, extra="bis=15.01.2027")
    room.ask_for_conference(second, "jugendamt", sender=AA)
    room.ask_for_conference(first, "traeger-xyz", sender=JA2)
    done_id = room.requests(first)[1].id
    with room.db.uow() as uow:  # a request that left the open states (e.g. discussed)
        row = uow.session.get(ConferenceRequest, done_id)
        assert row is not None
        row.state = "erledigt"
        uow.commit()

    reply = room.say(ADMIN, "anfragen")
    lines = items_after(reply, "Offene Anfragen")
    assert reply.startswith("Offene Anfragen (2)")
    [r1] = [r for r in room.requests(first) if r.id != done_id]
    [r2] = room.requests(second)
    assert lines == [
        f"#{r1.id} {first} – Ausbildung, regulär, von Jobcenter Wetteraukreis, bis 15.01.2027: "
        "wartet auf Einwilligung",
        f"#{r2.id} {second} – Ausbildung, regulär, von Agentur für Arbeit Gießen: bereit",
    ]
    assert f"#{done_id} " not in reply
    assert "@" not in reply
    for user in USERS:
        assert user not in reply
        assert user.split(":")[0].lstrip("@") not in reply
