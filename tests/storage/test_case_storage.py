"""Cases, consent, revocations, requests, Schutzauftrag and role snapshots on both databases.

Also: the migrations build exactly the schema the models declare, and role changes
in the configuration are audited once, by the configuration, without free text.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError

from commands.people import CONFIG_ACTOR, record_role_changes
from domain.org import Assignment, Institution, InstitutionType, Organisation, Role
from storage.audit import verify
from storage.models import (
    AuditEntry,
    Base,
    CaseFile,
    ConferenceRequest,
    Consent,
    Revocation,
    Schutzauftrag,
)
from storage.uow import Database, UnitOfWork

NOW = datetime(2026, 11, 23, 9, 0, 0, 250000, tzinfo=UTC)
CASE = "FK-7QX2-M6"
OTHER = "FK-ABCD-E7"


def _case(pseudonym: str = CASE, **overrides: object) -> CaseFile:
    fields: dict[str, object] = {
        "pseudonym": pseudonym,
        "owner_institution": "jugendamt",
        "created_by": "@ja:fk.test",
        "created_at": NOW,
    }
    fields.update(overrides)
    return CaseFile(**fields)


def _consent(pseudonym: str, version: int, **overrides: object) -> Consent:
    fields: dict[str, object] = {
        "case_pseudonym": pseudonym,
        "version": version,
        "grantor": "sorgeberechtigte",
        "purpose": "fallkonferenz",
        "recipients": ["jobcenter", "agentur"],
        "form": "schriftlich",
        "given_on": date(2026, 11, 20),
        "expires_on": None,
        "document_ref": "EW-2026-17",
        "recorded_by": "@ja:fk.test",
        "recorded_institution": "jugendamt",
        "recorded_at": NOW,
    }
    fields.update(overrides)
    return Consent(**fields)


def _revocation(pseudonym: str, institutions: list[str] | None) -> Revocation:
    return Revocation(
        case_pseudonym=pseudonym,
        institutions=institutions,
        effective_on=date(2026, 11, 23),
        recorded_by="@ja:fk.test",
        recorded_institution="jugendamt",
        recorded_at=NOW,
    )


def _request(pseudonym: str, state: str, topic: str = "Wohnen") -> ConferenceRequest:
    return ConferenceRequest(
        case_pseudonym=pseudonym,
        requested_by="@jc:fk.test",
        requesting_institution="jobcenter",
        topic=topic,
        urgency="normal",
        participants=["jugendamt", "jobcenter"],
        latest_date=None,
        state=state,
        created_at=NOW,
        updated_at=NOW,
    )


def _schutzauftrag(pseudonym: str, reason: str, state: str = "offen") -> Schutzauftrag:
    return Schutzauftrag(
        case_pseudonym=pseudonym,
        reason_code=reason,
        legal_basis="§ 8a SGB VIII",
        state=state,
        opened_by="@ja:fk.test",
        opened_institution="jugendamt",
        opened_at=NOW,
    )


# -- cases ----------------------------------------------------------------------------------


def test_case_is_added_and_read_back_with_defaults(database: Database) -> None:
    with database.uow() as uow:
        assert not uow.cases.exists(CASE)
        uow.cases.add(_case())
        uow.commit()
    with database.uow() as uow:
        assert uow.cases.exists(CASE)
        assert not uow.cases.exists(OTHER)
        assert uow.cases.get(OTHER) is None
        case = uow.cases.get(CASE)
    assert case is not None
    assert case.owner_institution == "jugendamt"
    assert case.created_by == "@ja:fk.test"
    assert case.created_at == NOW
    assert case.state == "offen"
    assert case.closed_at is None


def test_case_pseudonym_is_unique(database: Database) -> None:
    with database.uow() as uow:
        uow.cases.add(_case())
        uow.commit()
    with database.uow() as uow, pytest.raises(IntegrityError):
        uow.cases.add(_case(owner_institution="jobcenter"))


def test_rows_for_an_unknown_case_are_refused(database: Database) -> None:
    with database.uow() as uow, pytest.raises(IntegrityError):
        uow.cases.add_consent(_consent(OTHER, 1))


# -- consent --------------------------------------------------------------------------------


def test_consent_versions_count_per_case(database: Database) -> None:
    with database.uow() as uow:
        uow.cases.add(_case(CASE))
        uow.cases.add(_case(OTHER))
        assert uow.cases.next_consent_version(CASE) == 1
        uow.cases.add_consent(_consent(CASE, uow.cases.next_consent_version(CASE)))
        assert uow.cases.next_consent_version(CASE) == 2
        uow.cases.add_consent(
            _consent(
                CASE,
                uow.cases.next_consent_version(CASE),
                recipients=["schule"],
                expires_on=date(2027, 5, 31),
            )
        )
        assert uow.cases.next_consent_version(CASE) == 3
        assert uow.cases.next_consent_version(OTHER) == 1
        uow.cases.add_consent(_consent(OTHER, uow.cases.next_consent_version(OTHER)))
        uow.commit()
    with database.uow() as uow:
        consents = uow.cases.consents(CASE)
        assert [c.version for c in consents] == [1, 2]
        assert consents[0].recipients == ["jobcenter", "agentur"]  # order as written
        assert consents[0].expires_on is None
        assert consents[1].recipients == ["schule"]
        assert consents[1].expires_on == date(2027, 5, 31)
        assert consents[1].given_on == date(2026, 11, 20)
        assert consents[1].recorded_at == NOW
        assert [c.version for c in uow.cases.consents(OTHER)] == [1]
        assert uow.cases.consents("FK-2222-22") == []
        assert uow.cases.next_consent_version(OTHER) == 2


def test_consent_version_is_unique_per_case(database: Database) -> None:
    with database.uow() as uow:
        uow.cases.add(_case(CASE))
        uow.cases.add(_case(OTHER))
        uow.cases.add_consent(_consent(CASE, 1))
        uow.cases.add_consent(_consent(OTHER, 1))  # same version, other case: fine
        uow.commit()
    with database.uow() as uow, pytest.raises(IntegrityError):
        uow.cases.add_consent(_consent(CASE, 1, document_ref="EW-doppelt"))
    with database.uow() as uow:
        assert [c.document_ref for c in uow.cases.consents(CASE)] == ["EW-2026-17"]


# -- revocations ----------------------------------------------------------------------------


def test_revocations_keep_all_versus_some_institutions(database: Database) -> None:
    with database.uow() as uow:
        uow.cases.add(_case())
        uow.cases.add_revocation(_revocation(CASE, None))
        uow.cases.add_revocation(_revocation(CASE, ["jobcenter", "agentur"]))
        uow.cases.add_revocation(_revocation(CASE, []))
        uow.commit()
    with database.uow() as uow:
        revocations = uow.cases.revocations(CASE)
        assert uow.cases.revocations(OTHER) == []
    assert [r.institutions for r in revocations] == [None, ["jobcenter", "agentur"], []]
    assert all(r.effective_on == date(2026, 11, 23) for r in revocations)
    assert revocations[0].id < revocations[1].id < revocations[2].id


# -- requests -------------------------------------------------------------------------------


def test_open_requests_are_filtered_by_state_and_case(database: Database) -> None:
    with database.uow() as uow:
        uow.cases.add(_case(CASE))
        uow.cases.add(_case(OTHER))
        for pseudonym, state, topic in [
            (CASE, "wartet_einwilligung", "a"),
            (CASE, "abgelehnt", "b"),
            (OTHER, "bereit", "c"),
            (CASE, "bereit", "d"),
            (CASE, "erledigt", "e"),
            (OTHER, "zurueckgezogen", "f"),
        ]:
            uow.cases.add_request(_request(pseudonym, state, topic))
        uow.commit()
    with database.uow() as uow:
        assert [r.topic for r in uow.cases.open_requests()] == ["a", "c", "d"]
        assert [r.topic for r in uow.cases.open_requests(CASE)] == ["a", "d"]
        assert [r.topic for r in uow.cases.open_requests(OTHER)] == ["c"]
        assert [r.topic for r in uow.cases.requests(CASE)] == ["a", "b", "d", "e"]
        first = uow.cases.requests(CASE)[0]
    assert first.participants == ["jugendamt", "jobcenter"]
    assert first.entrusted is False
    assert first.latest_date is None
    assert first.basis is None


# -- Schutzauftrag --------------------------------------------------------------------------


def test_schutzauftraege_come_in_the_order_they_were_opened(database: Database) -> None:
    with database.uow() as uow:
        uow.cases.add(_case(CASE))
        uow.cases.add(_case(OTHER))
        # reason codes deliberately out of alphabetical order
        uow.cases.add_schutzauftrag(_schutzauftrag(CASE, "vernachlaessigung", "beendet"))
        uow.cases.add_schutzauftrag(_schutzauftrag(OTHER, "gewalt"))
        uow.cases.add_schutzauftrag(_schutzauftrag(CASE, "gewalt", "bestätigt"))
        uow.cases.add_schutzauftrag(_schutzauftrag(CASE, "sucht"))
        uow.commit()
    with database.uow() as uow:
        rows = uow.cases.schutzauftraege(CASE)
        row = rows[1]
        row.confirmed_by, row.confirmed_at = "@ja2:fk.test", NOW + timedelta(hours=1)
        uow.commit()
    assert [r.reason_code for r in rows] == ["vernachlaessigung", "gewalt", "sucht"]
    assert [r.state for r in rows] == ["beendet", "bestätigt", "offen"]
    with database.uow() as uow:
        again = uow.cases.schutzauftraege(CASE)
        assert [r.id for r in again] == sorted(r.id for r in again)
        assert again[1].confirmed_by == "@ja2:fk.test"
        assert again[1].confirmed_at == NOW + timedelta(hours=1)
        assert again[0].confirmed_at is None
        assert [r.reason_code for r in uow.cases.schutzauftraege(OTHER)] == ["gewalt"]


# -- role snapshots -------------------------------------------------------------------------


def test_role_snapshots_put_update_and_remove(database: Database) -> None:
    with database.uow() as uow:
        assert uow.role_snapshots.all() == {}
        uow.role_snapshots.put("@a:fk.test", "jugendamt", "fachkraft")
        uow.role_snapshots.put("partner.example", "jobcenter", "fachkraft,moderation")
        uow.commit()
    with database.uow() as uow:
        rows = uow.role_snapshots.all()
        assert {s: (r.institution, r.roles) for s, r in rows.items()} == {
            "@a:fk.test": ("jugendamt", "fachkraft"),
            "partner.example": ("jobcenter", "fachkraft,moderation"),
        }
        uow.role_snapshots.put("@a:fk.test", "agentur", "admin,fachkraft")
        uow.role_snapshots.remove("partner.example")
        uow.role_snapshots.remove("@niemand:fk.test")  # unknown: nothing happens
        uow.commit()
    with database.uow() as uow:
        rows = uow.role_snapshots.all()
        assert {s: (r.institution, r.roles) for s, r in rows.items()} == {
            "@a:fk.test": ("agentur", "admin,fachkraft")
        }


# -- migrations versus models ---------------------------------------------------------------


def _schema_differences(database: Database, ddl: str | None = None) -> list[Any]:
    with database.engine.connect() as conn:
        if ddl is not None:
            conn.execute(text(ddl))  # rolled back when the connection closes
        context = MigrationContext.configure(
            conn, opts={"compare_type": True, "compare_server_default": True}
        )
        differences: list[Any] = compare_metadata(context, Base.metadata)
        conn.rollback()
    return differences


def test_migrations_build_exactly_the_models_schema(database: Database) -> None:
    assert _schema_differences(database) == []


def test_schema_comparison_notices_a_missing_index(database: Database) -> None:
    """The check above can fail: a dropped index is reported as a difference."""
    differences = _schema_differences(database, "DROP INDEX ix_audit_entry_pseudonym")
    assert len(differences) == 1
    assert differences[0][0] == "add_index"


# -- role changes from the configuration ----------------------------------------------------

INSTITUTIONS = {
    "jugendamt": Institution("jugendamt", "Jugendamt Wetteraukreis", InstitutionType.JUGENDAMT),
    "jobcenter": Institution("jobcenter", "Jobcenter Wetteraukreis", InstitutionType.JOBCENTER),
    "traeger": Institution("traeger", "Träger Süd", InstitutionType.TRAEGER),
}


def _org(*assignments: tuple[str, str, tuple[Role, ...]]) -> Organisation:
    users, servers = {}, {}
    for subject, institution, roles in assignments:
        assignment = Assignment(subject, institution, frozenset(roles))
        (users if subject.startswith("@") else servers)[subject] = assignment
    return Organisation(institutions=INSTITUTIONS, users=users, servers=servers)


BASE = (
    ("@ja:fk.test", "jugendamt", (Role.FACHKRAFT,)),
    ("@mod:fk.test", "jugendamt", (Role.MODERATION, Role.FACHKRAFT)),
    ("partner.example", "jobcenter", (Role.FACHKRAFT,)),
)


def _roles_entries(uow: UnitOfWork) -> list[AuditEntry]:
    return [e for e in uow.audit.entries() if e.action == "rolle_geaendert"]


def _start(
    database: Database, org: Organisation, now: datetime = NOW
) -> tuple[int, list[AuditEntry]]:
    """One bot start: record the changes, commit; return the count and the new entries."""
    with database.uow() as uow:
        before = len(list(uow.audit.entries()))
        changes = record_role_changes(uow, org, now)
        uow.commit()
    with database.uow() as uow:
        new = list(uow.audit.entries())[before:]
        assert verify(uow.audit.entries(), uow.audit.head()).ok
    return changes, new


def _assert_configuration_entry(entry: AuditEntry) -> None:
    assert entry.action == "rolle_geaendert"
    assert entry.actor == CONFIG_ACTOR == "konfiguration"
    assert entry.pseudonym is None
    # no free text: only the subject and institution:roles codes
    assert set(entry.detail) <= {"subjekt", "vorher", "nachher"}
    assert "subjekt" in entry.detail
    for key in ("vorher", "nachher"):
        if key in entry.detail:
            institution, _, roles = entry.detail[key].partition(":")
            assert institution in INSTITUTIONS
            assert set(roles.split(",")) <= {r.value for r in Role}


def test_first_start_audits_every_assignment(database: Database) -> None:
    changes, entries = _start(database, _org(*BASE))
    assert changes == 3
    assert len(entries) == 3
    for entry in entries:
        _assert_configuration_entry(entry)
    details = {e.detail["subjekt"]: e.detail for e in entries}
    assert details == {
        "@ja:fk.test": {"subjekt": "@ja:fk.test", "nachher": "jugendamt:fachkraft"},
        "@mod:fk.test": {"subjekt": "@mod:fk.test", "nachher": "jugendamt:fachkraft,moderation"},
        "partner.example": {"subjekt": "partner.example", "nachher": "jobcenter:fachkraft"},
    }
    institutions = {e.detail["subjekt"]: e.institution for e in entries}
    assert institutions["partner.example"] == "jobcenter"
    with database.uow() as uow:
        snapshot = {s: (r.institution, r.roles) for s, r in uow.role_snapshots.all().items()}
    assert snapshot == {
        "@ja:fk.test": ("jugendamt", "fachkraft"),
        "@mod:fk.test": ("jugendamt", "fachkraft,moderation"),
        "partner.example": ("jobcenter", "fachkraft"),
    }


def test_unchanged_configuration_audits_nothing(database: Database) -> None:
    _start(database, _org(*BASE))
    # the same roles, listed in another order, are no change
    reordered = (BASE[2], ("@mod:fk.test", "jugendamt", (Role.FACHKRAFT, Role.MODERATION)), BASE[0])
    changes, entries = _start(database, _org(*reordered), NOW + timedelta(days=1))
    assert (changes, entries) == (0, [])


@pytest.mark.parametrize(
    ("changed", "expected"),
    [
        (
            (BASE[0], ("@mod:fk.test", "jugendamt", (Role.FACHKRAFT,)), BASE[2]),
            {
                "subjekt": "@mod:fk.test",
                "vorher": "jugendamt:fachkraft,moderation",
                "nachher": "jugendamt:fachkraft",
            },
        ),
        (
            (BASE[0], BASE[2]),
            {"subjekt": "@mod:fk.test", "vorher": "jugendamt:fachkraft,moderation"},
        ),
        (
            (BASE[0], BASE[1], ("partner.example", "traeger", (Role.FACHKRAFT,))),
            {
                "subjekt": "partner.example",
                "vorher": "jobcenter:fachkraft",
                "nachher": "traeger:fachkraft",
            },
        ),
        (
            (*BASE, ("@neu:fk.test", "traeger", (Role.ADMIN,))),
            {"subjekt": "@neu:fk.test", "nachher": "traeger:admin"},
        ),
    ],
    ids=["rolle", "entfernt", "institution", "hinzu"],
)
def test_one_change_gives_exactly_one_entry(
    database: Database,
    changed: tuple[tuple[str, str, tuple[Role, ...]], ...],
    expected: dict[str, str],
) -> None:
    _start(database, _org(*BASE))
    later = NOW + timedelta(days=2)
    changes, entries = _start(database, _org(*changed), later)
    assert changes == 1
    assert len(entries) == 1
    (entry,) = entries
    _assert_configuration_entry(entry)
    assert entry.detail == expected
    assert entry.at == later
    # the entry names the institution the subject belongs to now (or belonged to)
    now_or_before = expected.get("nachher", expected.get("vorher", ""))
    assert entry.institution == now_or_before.split(":")[0]
    # and the snapshot follows, so the next start with the same configuration is quiet
    assert _start(database, _org(*changed), later + timedelta(days=1)) == (0, [])
    with database.uow() as uow:
        snapshot = uow.role_snapshots.all()
    subject = expected["subjekt"]
    if "nachher" in expected:
        assert f"{snapshot[subject].institution}:{snapshot[subject].roles}" == expected["nachher"]
    else:
        assert subject not in snapshot


class _ReverseOrderRoles(frozenset[Role]):
    """A role set that iterates in reverse order, as another hash seed may make it do."""

    def __iter__(self) -> Iterator[Role]:
        return iter(sorted(super().__iter__(), reverse=True))


def test_role_order_does_not_depend_on_set_iteration(database: Database) -> None:
    """Another process iterates the same roles in another order: that is no change."""
    roles = (Role.FACHKRAFT, Role.MODERATION, Role.ADMIN)
    plain = Organisation(
        institutions=INSTITUTIONS,
        users={"@a:fk.test": Assignment("@a:fk.test", "jugendamt", frozenset(roles))},
    )
    reversed_ = Organisation(
        institutions=INSTITUTIONS,
        users={"@a:fk.test": Assignment("@a:fk.test", "jugendamt", _ReverseOrderRoles(roles))},
    )
    changes, entries = _start(database, reversed_)
    assert changes == 1
    assert entries[0].detail["nachher"] == "jugendamt:admin,fachkraft,moderation"
    assert _start(database, plain, NOW + timedelta(days=1)) == (0, [])
    assert _start(database, reversed_, NOW + timedelta(days=2)) == (0, [])


def test_role_changes_are_not_kept_without_commit(database: Database) -> None:
    with database.uow() as uow:
        assert record_role_changes(uow, _org(*BASE), NOW) == 3
    with database.uow() as uow:
        assert uow.role_snapshots.all() == {}
        assert _roles_entries(uow) == []
    assert _start(database, _org(*BASE))[0] == 3
