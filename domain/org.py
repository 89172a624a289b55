"""Who is who: institutions, the people and servers that belong to them, and their roles.

Built once from the configuration; pure data, no Matrix and no database. A
user's institution decides what they may do with a case; their roles decide
which commands they may use.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum

from domain.errors import ArgumentError
from domain.text import N_, Msg


class Role(StrEnum):
    FACHKRAFT = "fachkraft"
    MODERATION = "moderation"
    ADMIN = "admin"

    def text(self) -> Msg:
        """The role as a room reads it: the configured word in German (``moderation``),
        the catalog's word elsewhere (``moderators``)."""
        return Msg(_ROLE_TEXTS[self])


_ROLE_TEXTS = {
    Role.FACHKRAFT: N_("fachkraft"),
    Role.MODERATION: N_("moderation"),
    Role.ADMIN: N_("admin"),
}


class InstitutionType(StrEnum):
    JUGENDAMT = "jugendamt"
    JOBCENTER = "jobcenter"
    AGENTUR = "agentur"
    GESUNDHEITSAMT = "gesundheitsamt"
    SCHULE = "schule"
    TRAEGER = "traeger"
    SONSTIGE = "sonstige"


@dataclass(frozen=True)
class Institution:
    key: str  # short id used in commands, e.g. "jobcenter"
    name: str  # display name, e.g. "Jobcenter Wetteraukreis"
    type: InstitutionType

    @property
    def is_jugendamt(self) -> bool:
        return self.type is InstitutionType.JUGENDAMT


@dataclass(frozen=True)
class Member:
    """A sender as the bot sees them: their institution (if known) and roles."""

    user_id: str
    institution: Institution | None
    roles: frozenset[Role]

    def has(self, role: Role) -> bool:
        # An admin may do what moderation may do; case work needs the fachkraft role.
        return role in self.roles or (role is Role.MODERATION and Role.ADMIN in self.roles)


@dataclass(frozen=True)
class Assignment:
    """One configured mapping: a user or a whole homeserver → institution and roles."""

    subject: str  # "@user:server" or "server"
    institution: str
    roles: frozenset[Role]


def canonical_user_id(user_id: str) -> str:
    """``@local:server`` with the server part in lower case (servers are case-insensitive)."""
    local, _, server = user_id.partition(":")
    return f"{local}:{server.lower()}"


class UnknownInstitution(ArgumentError):
    def __init__(self, known: Iterable[str]) -> None:
        super().__init__(
            N_("Unbekannte Institution. Bekannt sind: %(institutions)s"),
            institutions=", ".join(sorted(known)),
        )


@dataclass(frozen=True)
class Organisation:
    institutions: Mapping[str, Institution] = field(default_factory=dict)
    users: Mapping[str, Assignment] = field(default_factory=dict)
    servers: Mapping[str, Assignment] = field(default_factory=dict)
    topics: tuple[str, ...] = ()
    schutzauftrag_reasons: tuple[str, ...] = ()
    moderation_power_level: int | None = 50

    def member(self, user_id: str, power_level: int = 0) -> Member:
        """A user entry wins over their server's entry; power level may add moderation."""
        key = canonical_user_id(user_id)
        assignment = self.users.get(key) or self.servers.get(key.partition(":")[2])
        institution = self.institutions.get(assignment.institution) if assignment else None
        roles = set(assignment.roles) if assignment else set()
        if (
            self.moderation_power_level is not None
            and power_level >= self.moderation_power_level
            and institution is not None
        ):
            roles.add(Role.MODERATION)
        return Member(user_id, institution, frozenset(roles))

    def institution(self, key: str) -> Institution:
        found = self.institutions.get(key.strip().casefold())
        if found is None:
            raise UnknownInstitution(self.institutions)
        return found

    def institution_list(self, text: str) -> tuple[Institution, ...]:
        """``jobcenter,agentur`` (or space separated) → institutions, sorted, no duplicates."""
        keys = [k for k in text.replace(",", " ").split() if k]
        if not keys:
            raise ArgumentError(N_("Bitte mindestens eine Institution nennen."))
        found = {self.institution(k).key: self.institution(k) for k in keys}
        return tuple(found[k] for k in sorted(found))

    def topic(self, text: str) -> str:
        for topic in self.topics:
            if topic.casefold() == text.strip().casefold():
                return topic
        raise ArgumentError(
            N_("Unbekanntes Thema. Möglich sind: %(topics)s"), topics=", ".join(self.topics)
        )

    def reason(self, text: str) -> str:
        for reason in self.schutzauftrag_reasons:
            if reason.casefold() == text.strip().casefold():
                return reason
        raise ArgumentError(
            N_("Unbekannter Grund-Code. Möglich sind: %(reasons)s"),
            reasons=", ".join(self.schutzauftrag_reasons),
        )

    def assignments(self) -> list[Assignment]:
        return sorted(
            [*self.users.values(), *self.servers.values()], key=lambda a: (a.institution, a.subject)
        )
