"""Who am I, who is who: the configured institutions and roles, shown in the room."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Annotated, Self

from bot.identity import fingerprint
from commands.framework import CommandContext, Label, Router, role_name
from commands.i18n import N_
from commands.reply import Doc, Reply, b, code
from domain.errors import UserError
from domain.org import Organisation, Role
from domain.text import Msg
from storage.uow import UnitOfWork

CONFIG_ACTOR = "konfiguration"
_USER_ID = re.compile(r"@[a-z0-9._=\-/+]+:[A-Za-z0-9.\-]+(:\d+)?")


class MatrixUser(str):
    type_name = "@nutzer:server"

    @classmethod
    def convert(cls, text: str) -> Self:
        if not _USER_ID.fullmatch(text):
            raise ValueError(Msg(N_("erwartet eine Matrix-ID wie @name:server.example")))
        return cls(text)


def record_role_changes(uow: UnitOfWork, org: Organisation, now: datetime) -> int:
    """Audit every difference between the configured roles and those seen at the last start."""
    before = uow.role_snapshots.all()
    current = {a.subject: a for a in org.assignments()}
    changes = 0
    for subject in sorted(set(before) | set(current)):
        old, new = before.get(subject), current.get(subject)
        new_roles = ",".join(sorted(r.value for r in new.roles)) if new else ""
        if old and new and (old.institution, old.roles) == (new.institution, new_roles):
            continue
        detail = {
            "subjekt": subject,
            "vorher": f"{old.institution}:{old.roles}" if old else None,
            "nachher": f"{new.institution}:{new_roles}" if new else None,
        }
        uow.audit.append(
            at=now,
            actor=CONFIG_ACTOR,
            institution=new.institution if new else (old.institution if old else None),
            action="rolle_geaendert",
            detail={k: v for k, v in detail.items() if v is not None},
        )
        if new is None:
            uow.role_snapshots.remove(subject)
        else:
            uow.role_snapshots.put(subject, new.institution, new_roles)
        changes += 1
    return changes


router = Router("people")


@router.command(
    "wer",
    summary=N_("Zeigt deine Institution und deine Rollen."),
    case_data=False,
    examples=("wer",),
)
def wer(ctx: CommandContext) -> Reply:
    t = ctx.t
    member = ctx.member
    doc = Doc().para(b(ctx.sender))
    if member.institution is None:
        return doc.para(
            t.gettext(
                "Du bist keiner Institution zugeordnet und siehst deshalb keine Falldaten. "
                "Die Administration kann dich in der Konfiguration eintragen."
            )
        ).build()
    roles = ", ".join(role_name(r, t) for r in sorted(member.roles)) or t.gettext("keine")
    return (
        doc.para(
            t.gettext(
                "Institution: %(name)s (%(key)s)",
                name=member.institution.name,
                key=member.institution.key,
            )
        )
        .para(t.gettext("Rollen: %(roles)s", roles=roles))
        .build()
    )


@router.command(
    "identität bestätigen",
    aliases=("identitaet bestaetigen",),
    summary=N_("Nimmt die geänderte Identität eines Mitglieds an (nach Prüfung auf anderem Weg)."),
    role=Role.ADMIN,
    case_data=False,
    params={
        "nutzer": N_("Matrix-ID des Mitglieds"),
        "fingerabdruck": N_("optional: Anfang des neuen Fingerabdrucks zur Kontrolle"),
    },
    details=N_(
        "Ändert sich der Master-Schlüssel eines Mitglieds, teilt der Bot keine "
        "Raumschlüssel mehr mit ihm. Erst nach Prüfung des neuen Fingerabdrucks auf "
        "anderem Weg (Telefon, persönlich) bestätigt eine Admin-Person ihn hier."
    ),
    examples=("identität bestätigen @a.yilmaz:jugendamt.example",),
)
def identitaet_bestaetigen(
    ctx: CommandContext,
    nutzer: MatrixUser,
    *,
    fingerabdruck: Annotated[str | None, Label("anfang")] = None,
) -> Reply:
    row = ctx.uow.pins.get(nutzer)
    if row is None or row.seen_key is None:
        raise UserError(
            N_("Für %(user)s wartet keine geänderte Identität auf Bestätigung."), user=str(nutzer)
        )
    new = fingerprint(row.seen_key)
    given = (fingerabdruck or "").replace(" ", "")
    if given and not row.seen_key.startswith(given):
        raise UserError(
            N_("Der angegebene Fingerabdruck passt nicht zum neuen Schlüssel. Nichts geändert.")
        )
    old = row.master_key
    ctx.uow.pins.accept(nutzer, ctx.now)
    ctx.uow.audit.append(
        at=ctx.now,
        actor=ctx.sender,
        institution=ctx.member.institution.key if ctx.member.institution else None,
        action="identitaet_bestaetigt",
        detail={"nutzer": str(nutzer), "alt": old, "neu": row.master_key},
    )
    t = ctx.t
    # The member in bold inside the sentence: the sentence is one text, split at the name.
    before, _, after = t.gettext(
        "🔐 Neue Identität von %(user)s angenommen. Fingerabdruck:", user="\x00"
    ).partition("\x00")
    return (
        Doc()
        .para(before, b(nutzer), after)
        .para(code(new))
        .para(
            t.gettext(
                "Ihre bzw. seine verifizierten Geräte erhalten ab der nächsten Nachricht "
                "wieder Schlüssel."
            )
        )
        .build()
    )


@router.command(
    "rollen",
    summary=N_("Listet, wer welche Institution und Rolle hat."),
    role=Role.MODERATION,
    case_data=False,
    details=N_(
        "Rollen kommen aus der Konfiguration (Personen und ganze Homeserver). "
        "Zusätzlich erhält Moderation, wer im Raum die konfigurierte Berechtigungsstufe hat."
    ),
    examples=("rollen",),
)
def rollen(ctx: CommandContext) -> Reply:
    t = ctx.t
    doc = Doc().para(b(t.gettext("Rollen")))
    rows = []
    for assignment in ctx.org.assignments():
        institution = ctx.org.institutions[assignment.institution]
        who = (
            assignment.subject
            if assignment.subject.startswith("@")
            else t.gettext("alle von %(server)s", server=assignment.subject)
        )
        rows.append(
            (
                code(who),
                f" – {institution.name}: ",
                ", ".join(role_name(r, t) for r in sorted(assignment.roles)),
            )
        )
    doc.items(rows)
    if ctx.org.moderation_power_level is not None:
        doc.para(
            t.gettext(
                "Dazu Moderation für eingetragene Personen ab Berechtigungsstufe %(level)s im "
                "Raum.",
                level=ctx.org.moderation_power_level,
            )
        )
    return doc.build()
