"""Who is who: institutions, people and servers, roles, and the [agency] configuration."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from bot.config import (
    DEFAULT_REASONS,
    DEFAULT_TOPICS,
    AgencyConfig,
    AssignmentConfig,
    ConfigError,
    load_config,
)
from domain.errors import ArgumentError
from domain.org import (
    Assignment,
    Institution,
    InstitutionType,
    Member,
    Organisation,
    Role,
    UnknownInstitution,
)

INSTITUTIONS: dict[str, dict[str, str]] = {
    "jugendamt": {"name": "Jugendamt Wetteraukreis", "type": "jugendamt"},
    "jobcenter": {"name": "Jobcenter Wetteraukreis", "type": "jobcenter"},
    "agentur": {"name": "Agentur für Arbeit Gießen", "type": "agentur"},
    "schule": {"name": "Gesamtschule Friedberg", "type": "schule"},
    "traeger-xyz": {"name": "Freier Träger XYZ", "type": "traeger"},
}
PEOPLE: list[dict[str, Any]] = [
    {"server": "jobcenter.example", "institution": "jobcenter"},  # default role: fachkraft
    # a person of the Jobcenter's server who works for the Agentur: the person wins
    {
        "user": "@s.kaya:jobcenter.example",
        "institution": "agentur",
        "roles": ["fachkraft", "moderation"],
    },
    {"user": "@a.yilmaz:jugendamt.example", "institution": "jugendamt"},
    {
        "user": "@praeventionsbuero:jugendamt.example",
        "institution": "jugendamt",
        "roles": ["moderation"],
    },
    {"user": "@it-admin:jugendamt.example", "institution": "jugendamt", "roles": ["admin"]},
    {"server": "Schule.Example", "institution": "schule", "roles": []},
]
AGENCY: dict[str, Any] = {
    "institutions": INSTITUTIONS,
    "people": PEOPLE,
    "topics": ["Ausbildung", "Wohnen", "Kinderschutz"],
    "schutzauftrag_reasons": ["kw-gefaehrdung", "sucht", "Sonstiges"],
}
KNOWN_KEYS = "agentur, jobcenter, jugendamt, schule, traeger-xyz"


def organisation(**changes: Any) -> Organisation:
    return AgencyConfig.model_validate({**AGENCY, **changes}).organisation()


@pytest.fixture
def org() -> Organisation:
    return organisation()


# --- members ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("user_id", "institution", "roles"),
    [
        pytest.param("@m.mueller:jobcenter.example", "jobcenter", {Role.FACHKRAFT}, id="server"),
        pytest.param(
            "@s.kaya:jobcenter.example",
            "agentur",
            {Role.FACHKRAFT, Role.MODERATION},
            id="user entry wins over server entry",
        ),
        pytest.param(
            "@m.mueller:JobCenter.Example", "jobcenter", {Role.FACHKRAFT}, id="server any case"
        ),
        pytest.param("@lehrerin:schule.example", "schule", set(), id="server entry without roles"),
        pytest.param("@a.yilmaz:jugendamt.example", "jugendamt", {Role.FACHKRAFT}, id="user"),
        pytest.param(
            "@praeventionsbuero:jugendamt.example",
            "jugendamt",
            {Role.MODERATION},
            id="moderation only",
        ),
        pytest.param("@it-admin:jugendamt.example", "jugendamt", {Role.ADMIN}, id="admin"),
        pytest.param("@unbekannt:jugendamt.example", None, set(), id="unlisted user"),
        pytest.param("@fremd:partner.example", None, set(), id="unknown server"),
        pytest.param("@A.Yilmaz:jugendamt.example", None, set(), id="user ids are exact"),
    ],
)
def test_member(org: Organisation, user_id: str, institution: str | None, roles: set[Role]) -> None:
    member = org.member(user_id)
    assert member.user_id == user_id
    assert (member.institution.key if member.institution else None) == institution
    assert member.roles == frozenset(roles)


def test_member_carries_the_configured_institution(org: Organisation) -> None:
    member = org.member("@a.yilmaz:jugendamt.example")
    assert member.institution == Institution(
        "jugendamt", "Jugendamt Wetteraukreis", InstitutionType.JUGENDAMT
    )
    assert member.institution.is_jugendamt
    other = org.member("@m.mueller:jobcenter.example").institution
    assert other is not None
    assert not other.is_jugendamt


@pytest.mark.parametrize(
    ("power_level", "moderation"), [(0, False), (49, False), (50, True), (100, True)]
)
def test_power_level_adds_moderation_to_members_with_an_institution(
    org: Organisation, power_level: int, moderation: bool
) -> None:
    member = org.member("@a.yilmaz:jugendamt.example", power_level)
    assert member.has(Role.MODERATION) is moderation
    assert member.has(Role.FACHKRAFT)
    assert not member.has(Role.ADMIN)
    # the server's people too, and a role without any configured role
    assert org.member("@lehrerin:schule.example", power_level).has(Role.MODERATION) is moderation


@pytest.mark.parametrize("user_id", ["@fremd:partner.example", "@unbekannt:jugendamt.example"])
def test_power_level_gives_nothing_without_an_institution(org: Organisation, user_id: str) -> None:
    member = org.member(user_id, 100)
    assert member.institution is None
    assert member.roles == frozenset()
    assert not member.has(Role.MODERATION)


def test_custom_moderation_power_level() -> None:
    org = organisation(moderation_power_level=75)
    assert not org.member("@a.yilmaz:jugendamt.example", 74).has(Role.MODERATION)
    assert org.member("@a.yilmaz:jugendamt.example", 75).has(Role.MODERATION)


def test_moderation_power_level_none_disables() -> None:
    org = Organisation(
        institutions={"jugendamt": Institution("jugendamt", "JA", InstitutionType.JUGENDAMT)},
        users={
            "@a:ja.example": Assignment("@a:ja.example", "jugendamt", frozenset({Role.FACHKRAFT}))
        },
        moderation_power_level=None,
    )
    assert org.member("@a:ja.example", 100).roles == frozenset({Role.FACHKRAFT})


def test_moderation_power_level_zero_in_the_configuration_disables() -> None:
    org = organisation(moderation_power_level=0)
    assert org.moderation_power_level is None
    assert not org.member("@a.yilmaz:jugendamt.example", 100).has(Role.MODERATION)
    assert not org.member("@a.yilmaz:jugendamt.example", 0).has(Role.MODERATION)


@pytest.mark.parametrize(
    ("roles", "fachkraft", "moderation", "admin"),
    [
        ({Role.ADMIN}, False, True, True),  # admin implies moderation, not case work
        ({Role.MODERATION}, False, True, False),
        ({Role.FACHKRAFT}, True, False, False),
        ({Role.FACHKRAFT, Role.MODERATION}, True, True, False),
        (set(), False, False, False),
    ],
)
def test_member_has(roles: set[Role], fachkraft: bool, moderation: bool, admin: bool) -> None:
    member = Member("@x:fk.test", None, frozenset(roles))
    assert member.has(Role.FACHKRAFT) is fachkraft
    assert member.has(Role.MODERATION) is moderation
    assert member.has(Role.ADMIN) is admin


def test_assignments_are_listed_by_institution_then_subject(org: Organisation) -> None:
    listed = [(a.institution, a.subject) for a in org.assignments()]
    assert listed == [
        ("agentur", "@s.kaya:jobcenter.example"),
        ("jobcenter", "jobcenter.example"),
        ("jugendamt", "@a.yilmaz:jugendamt.example"),
        ("jugendamt", "@it-admin:jugendamt.example"),
        ("jugendamt", "@praeventionsbuero:jugendamt.example"),
        ("schule", "schule.example"),
    ]


# --- institutions, topics, reasons -------------------------------------------------


@pytest.mark.parametrize("text", ["jobcenter", "JobCenter", "  jobcenter  ", "JOBCENTER"])
def test_institution_lookup_is_case_insensitive(org: Organisation, text: str) -> None:
    assert org.institution(text).key == "jobcenter"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("jobcenter,agentur", ("agentur", "jobcenter")),
        ("jobcenter agentur", ("agentur", "jobcenter")),
        ("jobcenter, agentur", ("agentur", "jobcenter")),
        (" jobcenter ,, agentur , ", ("agentur", "jobcenter")),
        ("jobcenter,jobcenter,JOBCENTER", ("jobcenter",)),
        ("schule jugendamt,traeger-xyz agentur", ("agentur", "jugendamt", "schule", "traeger-xyz")),
    ],
)
def test_institution_list(org: Organisation, text: str, expected: tuple[str, ...]) -> None:
    found = org.institution_list(text)
    assert tuple(i.key for i in found) == expected
    assert all(isinstance(i, Institution) for i in found)


@pytest.mark.parametrize("text", ["", "   ", ",", " , ,"])
def test_institution_list_needs_at_least_one(org: Organisation, text: str) -> None:
    with pytest.raises(ArgumentError) as info:
        org.institution_list(text)
    assert "mindestens eine Institution" in info.value.message


@pytest.mark.parametrize("text", ["jobcenter,finanzamt", "finanzamt", "job center", "jugendämter"])
def test_unknown_institution_lists_the_known_ones(org: Organisation, text: str) -> None:
    with pytest.raises(UnknownInstitution) as info:
        org.institution_list(text)
    message = info.value.message
    assert message == f"Unbekannte Institution. Bekannt sind: {KNOWN_KEYS}"
    assert isinstance(info.value, ArgumentError)
    assert info.value.show_usage


def test_unknown_single_institution(org: Organisation) -> None:
    with pytest.raises(UnknownInstitution) as info:
        org.institution("finanzamt")
    assert "finanzamt" not in info.value.message
    assert KNOWN_KEYS in info.value.message


@pytest.mark.parametrize(
    ("text", "topic"),
    [
        ("Ausbildung", "Ausbildung"),
        ("ausbildung", "Ausbildung"),
        (" KINDERSCHUTZ ", "Kinderschutz"),
    ],
)
def test_topic_is_case_insensitive_and_canonical(org: Organisation, text: str, topic: str) -> None:
    assert org.topic(text) == topic


def test_unknown_topic_lists_the_topics(org: Organisation) -> None:
    with pytest.raises(ArgumentError) as info:
        org.topic("Urlaub")
    assert info.value.message == "Unbekanntes Thema. Möglich sind: Ausbildung, Wohnen, Kinderschutz"


@pytest.mark.parametrize(
    ("text", "reason"),
    [("KW-Gefaehrdung", "kw-gefaehrdung"), ("sucht", "sucht"), (" SONSTIGES", "Sonstiges")],
)
def test_reason_is_case_insensitive_and_canonical(
    org: Organisation, text: str, reason: str
) -> None:
    assert org.reason(text) == reason


def test_unknown_reason_lists_the_codes(org: Organisation) -> None:
    with pytest.raises(ArgumentError) as info:
        org.reason("gewalt")  # a default code, but not configured here
    assert (
        info.value.message
        == "Unbekannter Grund-Code. Möglich sind: kw-gefaehrdung, sucht, Sonstiges"
    )


def test_defaults() -> None:
    agency = AgencyConfig()
    assert agency.topics == DEFAULT_TOPICS
    assert agency.schutzauftrag_reasons == DEFAULT_REASONS
    org = agency.organisation()
    assert org.moderation_power_level == 50
    assert org.institutions == {}
    assert org.member("@a:fk.test", 100) == Member("@a:fk.test", None, frozenset())
    assert org.topic("familie") == "Familie"
    assert org.reason("KW-GEFAEHRDUNG") == "kw-gefaehrdung"


def test_assignment_subject() -> None:
    assert AssignmentConfig(user="@a:fk.test", institution="x").subject == "@a:fk.test"
    assert AssignmentConfig(server="FK.Test", institution="x").subject == "fk.test"
    assert AssignmentConfig(server="fk.test:8448", institution="x").roles == (Role.FACHKRAFT,)


# --- configuration errors -----------------------------------------------------------


@pytest.mark.parametrize(
    ("people", "institutions", "expected"),
    [
        pytest.param(
            [{"user": "@a:fk.test", "institution": "finanzamt"}],
            INSTITUTIONS,
            "@a:fk.test: unbekannte Institution 'finanzamt'",
            id="unknown institution",
        ),
        pytest.param(
            [
                {"user": "@a:fk.test", "institution": "jugendamt"},
                {"user": "@a:fk.test", "institution": "jobcenter", "roles": ["admin"]},
            ],
            INSTITUTIONS,
            "@a:fk.test ist doppelt eingetragen",
            id="duplicate user",
        ),
        pytest.param(
            [
                {"server": "FK.test", "institution": "jugendamt"},
                {"server": "fk.test", "institution": "jobcenter"},
            ],
            INSTITUTIONS,
            "fk.test ist doppelt eingetragen",
            id="duplicate server in another case",
        ),
        pytest.param(
            [{"user": "@a:fk.test", "server": "fk.test", "institution": "jugendamt"}],
            INSTITUTIONS,
            "genau eines von user oder server angeben",
            id="user and server",
        ),
        pytest.param(
            [{"institution": "jugendamt"}],
            INSTITUTIONS,
            "genau eines von user oder server angeben",
            id="neither user nor server",
        ),
        pytest.param(
            [],
            {"Jugend Amt": {"name": "Jugendamt"}},
            "Institutionskürzel 'Jugend Amt': nur a–z, 0–9, - und _",
            id="institution key with space and capitals",
        ),
        pytest.param(
            [], {"-ja": {"name": "Jugendamt"}}, "Institutionskürzel '-ja'", id="key starts with -"
        ),
        pytest.param(
            [],
            {"jugendämt": {"name": "Jugendamt"}},
            "Institutionskürzel 'jugendämt'",
            id="key with umlaut",
        ),
    ],
)
def test_agency_errors(
    people: list[dict[str, Any]], institutions: dict[str, Any], expected: str
) -> None:
    with pytest.raises(ValidationError) as info:
        AgencyConfig.model_validate({"institutions": institutions, "people": people})
    assert expected in str(info.value)


def test_valid_keys_are_accepted() -> None:
    keys = ["ja", "jobcenter-2", "traeger_xyz", "0815", "a" * 64]
    agency = AgencyConfig.model_validate({"institutions": {k: {"name": k} for k in keys}})
    assert sorted(agency.organisation().institutions) == sorted(keys)
    with pytest.raises(ValidationError):
        AgencyConfig.model_validate({"institutions": {"a" * 65: {"name": "zu lang"}}})


# --- through load_config: German messages and the homeserver rule -------------------

MATRIX = """\
[matrix]
homeserver = "https://matrix.jugendamt.example"
user_id = "@fallkonferenz:jugendamt.example"
allowed_homeservers = ["Jugendamt.example", "jobcenter.example"]

[agency.institutions.jugendamt]
name = "Jugendamt Wetteraukreis"
type = "jugendamt"

[agency.institutions.jobcenter]
name = "Jobcenter Wetteraukreis"
type = "jobcenter"
"""


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for name in list(os.environ):
        if name.upper().startswith("FKBOT_"):
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)


def config_file(tmp_path: Path, agency: str) -> Path:
    path = tmp_path / "etc" / "config.toml"
    path.parent.mkdir(exist_ok=True)
    path.write_text(MATRIX + agency, encoding="utf-8")
    return path


def config_error(tmp_path: Path, agency: str) -> str:
    with pytest.raises(ConfigError) as info:
        load_config(config_file(tmp_path, agency))
    return str(info.value)


def test_people_on_allowed_homeservers_load(tmp_path: Path) -> None:
    settings = load_config(
        config_file(
            tmp_path,
            '[[agency.people]]\nuser = "@a.yilmaz:jugendamt.example"\ninstitution = "jugendamt"\n'
            '[[agency.people]]\nserver = "JOBCENTER.example"\ninstitution = "jobcenter"\n'
            'roles = ["fachkraft", "admin"]\n',
        )
    )
    org = settings.agency.organisation()
    assert org.member("@a.yilmaz:jugendamt.example").has(Role.FACHKRAFT)
    member = org.member("@m.mueller:jobcenter.example")
    assert member.institution is not None
    assert member.institution.name == "Jobcenter Wetteraukreis"
    assert member.roles == frozenset({Role.FACHKRAFT, Role.ADMIN})


@pytest.mark.parametrize(
    ("entry", "subject"),
    [
        ('user = "@anna:gmail.example"', "@anna:gmail.example"),
        ('server = "partner.example"', "partner.example"),
        ('user = "@anna:jugendamt.example.evil"', "@anna:jugendamt.example.evil"),
    ],
)
def test_people_on_other_homeservers_are_refused(tmp_path: Path, entry: str, subject: str) -> None:
    message = config_error(tmp_path, f'[[agency.people]]\n{entry}\ninstitution = "jugendamt"\n')
    assert f"  - agency.people: {subject} ist auf keinem erlaubten Homeserver" in message
    assert "(matrix.allowed_homeservers)" in message


@pytest.mark.parametrize(
    ("agency", "expected"),
    [
        (
            '[[agency.people]]\nuser = "@a:jugendamt.example"\ninstitution = "finanzamt"\n',
            "  - agency: @a:jugendamt.example: unbekannte Institution 'finanzamt'",
        ),
        (
            '[[agency.people]]\nuser = "anna"\ninstitution = "jugendamt"\n',
            "  - agency.people.0.user: hat nicht das erwartete Format",
        ),
        (
            '[[agency.people]]\nuser = "@a:jugendamt.example"\ninstitution = "jugendamt"\n'
            'roles = ["chef"]\n',
            "  - agency.people.0.roles.0: ist keiner der erlaubten Werte ('fachkraft', ",
        ),
        (
            '[agency.institutions.amt]\nname = "Finanzamt"\ntype = "finanzamt"\n',
            "  - agency.institutions.amt.type: ist keiner der erlaubten Werte ('jugendamt', ",
        ),
        (
            '[[agency.people]]\nuser = "@a:jugendamt.example"\ninstitution = "jugendamt"\n'
            'rolle = "admin"\n',
            "  - agency.people.0.rolle: unbekannter Schlüssel",
        ),
        ('[agency.institutions.amt]\ntype = "sonstige"\n', "agency.institutions.amt.name: fehlt"),
    ],
)
def test_configuration_errors_are_german(tmp_path: Path, agency: str, expected: str) -> None:
    message = config_error(tmp_path, agency)
    assert expected in message
    assert "Input should" not in message
    assert "Value error" not in message


@pytest.mark.parametrize(
    ("setting", "expected"),
    [
        ("moderation_power_level = 101", "agency.moderation_power_level: ist zu groß"),
        ("moderation_power_level = -1", "agency.moderation_power_level: ist zu klein"),
        ("topics = []", "agency.topics: darf nicht leer sein"),
        ("schutzauftrag_reasons = []", "agency.schutzauftrag_reasons: darf nicht leer sein"),
    ],
)
def test_agency_values_are_checked(tmp_path: Path, setting: str, expected: str) -> None:
    section = "[agency.institutions.jugendamt]"
    text = MATRIX.replace(section, f"[agency]\n{setting}\n\n{section}")
    path = tmp_path / "config.toml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ConfigError) as info:
        load_config(path)
    assert expected in str(info.value)
