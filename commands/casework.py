"""Shared chat-side case logic: lookups with their refusals, roles, audit by the sender.

The rules and use cases themselves (gate on stored facts, re-evaluation) live in
:mod:`domain.casework`; they are re-exported here for the handlers.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from typing import Any

from commands.framework import CommandContext
from commands.i18n import N_, Texts
from domain.casework import (
    BASIS_CONSENT,
    LEGAL_BASIS_8A,
    Evaluation,
    GateFacts,
    RequestState,
    consent_facts,
    evaluate,
    reevaluate,
    revocation_facts,
    schutzauftrag_active,
    state_label,
)
from domain.dates import DateError, Towards, parse_date
from domain.errors import BadArgument, PermissionDenied, UnknownCase
from domain.org import Institution, Member, Organisation, Role
from domain.pseudonym import Pseudonym
from domain.work import audit as work_audit
from storage.models import CaseFile


def get_case(ctx: CommandContext, pseudonym: Pseudonym) -> CaseFile:
    case = ctx.uow.cases.get(str(pseudonym))
    if case is None:
        raise UnknownCase()
    return case


def institution_of(ctx: CommandContext) -> Institution:
    """The sender's institution; the dispatcher already refused senders without one."""
    institution = ctx.member.institution
    if institution is None:  # pragma: no cover - guarded by the dispatcher
        raise PermissionDenied(N_("Du bist keiner Institution zugeordnet."))
    return institution


def require_owner(ctx: CommandContext, case: CaseFile, refusal: str) -> Institution:
    """The sender's institution if it leads the case and the sender is a caseworker;
    otherwise ``refusal`` (a msgid with ``%(owner)s``, the lead institution)."""
    institution = institution_of(ctx)
    if institution.key != case.owner_institution or not ctx.member.has(Role.FACHKRAFT):
        raise PermissionDenied(refusal, owner=institution_name(ctx, case.owner_institution))
    return institution


def date_arg(name: str, text: str, today: date, towards: Towards, *, language: str = "de") -> date:
    """The date option or word ``name``; ``language`` is the room's (``ctx.t.language``):
    its words (``tomorrow``, ``in 2 weeks``) are read besides the German ones."""
    try:
        return parse_date(text, today, towards, language=language)
    except DateError as err:
        raise BadArgument(name, err.text) from None


def audit(ctx: CommandContext, action: str, pseudonym: str | None, **detail: Any) -> None:
    """An audit entry by the command's sender (see :func:`domain.work.audit`)."""
    work_audit(ctx.work, action, pseudonym, **detail)


def institution_name(ctx: CommandContext, key: str) -> str:
    return institution_name_in(ctx.org, key)


def institution_name_in(org: Organisation, key: str) -> str:
    found = org.institutions.get(key)
    return found.name if found else key


def member_label(member: Member, t: Texts) -> str:
    inst = member.institution.name if member.institution else t.gettext("keine Institution")
    roles = ", ".join(sorted(r.value for r in member.roles)) or t.gettext("keine Rolle")
    return f"{inst} – {roles}"


def names(ctx: CommandContext, keys: Sequence[str]) -> str:
    return ", ".join(keys) if keys else "–"


__all__ = [
    "BASIS_CONSENT",
    "LEGAL_BASIS_8A",
    "Evaluation",
    "GateFacts",
    "RequestState",
    "consent_facts",
    "evaluate",
    "reevaluate",
    "revocation_facts",
    "schutzauftrag_active",
    "state_label",
]
