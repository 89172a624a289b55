"""The minutes (Protokoll) of a session as Markdown, JSON and PDF files.

Every export is rendered from one :class:`~domain.minutes.Minutes` value, and the
Markdown and the PDF from one layout (:func:`_layout`) of it, so the three cannot
disagree about what was recorded. Only what the value carries appears: pseudonyms,
institution names, Matrix ids of staff and the (guarded) texts of topics,
decisions and tasks. Times are shown in Europe/Berlin.

The module is pure: no clock, no I/O, nothing from Matrix. Rendering the same value
twice gives the same bytes, in all three formats.

Language
    Every rendering takes the :class:`~commands.i18n.Texts` of the room (German when
    none is given): Markdown and PDF have their headings, labels, dates and page
    footer in that language, the file name too (``minutes-meeting-12-…`` in English).
    The JSON keys are the same in every language; ``"language"`` names it.

Markdown
    CommonMark. Every text that comes from the value (names, ids, topics, decisions,
    tasks, reasons) is escaped, so ``*``, ``_``, ``#``, ``[``, ``|``, ``<`` and the
    like show literally instead of becoming markup; a backslash before any ASCII
    punctuation is the only escape used. Line breaks and runs of white space in a
    text become one space (rendered Markdown shows them that way anyway), and
    control characters are dropped, so no text can start a block of its own.

JSON (``"format": "fallkonferenz-protokoll"``, ``"version": 1``)
    The exact values, for other systems. Keys are sorted, dates are ISO 8601
    (``"2026-12-09"``), instants ISO 8601 with the Europe/Berlin offset
    (``"2026-12-09T10:00:00+01:00"``)::

        {
          "format": "fallkonferenz-protokoll",
          "version": 1,
          "language": "de" | "en" | …,     # the room's language (added in version 1)
          "termin": {
            "id": 12,
            "name": str,
            "beginn": instant,
            "eröffnet": instant,
            "eröffnet_von": matrix id,
            "geschlossen": instant | null,
            "quorum": int                   # institutions needed for a quorum
          },
          "anwesenheit": [                  # in the order of the value
            {"institution": str, "anwesend": [matrix id, ...], "entschuldigt": bool}
          ],
          "beschlussfähig": bool,           # institutions with someone present >= quorum
          "punkte": [                       # agenda items, in order
            {
              "nr": int,                    # 1, 2, ... as in Markdown and PDF
              "pseudonym": str,
              "thema": str,
              "angefragt_von": str,
              "teilnehmende": [str, ...],
              "schutzauftrag_8a": bool,
              "beschlüsse": [str, ...],     # in the order recorded
              "lotse": str | null,          # "@user:server (Institution)"
              "aufgaben": [
                {"verantwortlich": matrix id, "institution": str, "text": str,
                 "fällig": date | null}
              ],
              "wiedervorlage": date | null,
              "vertagt": {"grund": str | null, "auf": str | null} | null,
              "erledigt": bool
            }
          ],
          "bestätigt": {"von": matrix id, "am": instant | null} | null
        }

    ``vertagt.auf`` is the target session as display text in ``language`` ("Termin #13
    am Mi 13.01.2027 10:00", "meeting #13 on Wed 13 Jan 2027, 10:00"), or null while
    there is none; ``vertagt.grund`` is the reason as recorded. Texts are unchanged (no
    escaping, no white-space folding); the output uses UTF-8 characters, not
    ``\\u`` escapes. A reader must ignore keys it does not know; a change that
    removes or redefines a key raises ``version``.

PDF
    A4 with reportlab's platypus and the built-in Helvetica (not embedded), whose
    WinAnsi encoding covers German and Western European text (ä ö ü ß § € – „ “);
    reportlab takes arrows and mathematical signs (→ ≥) from the built-in Symbol
    font. A character neither has (e.g. ł, emoji) is drawn as ■. Every page ends
    with "Seite n von m" ("Page n of m"); the document's /Lang is the room's language
    (``de-DE``, ``en``). Built with reportlab's ``invariant`` mode, so the same
    value gives the same bytes (the document's dates read 01.01.2000).
"""

from __future__ import annotations

import io
import json
import re
import unicodedata
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, Literal

from reportlab.lib.pagesizes import A4
from reportlab.lib.styles import ParagraphStyle
from reportlab.lib.units import mm
from reportlab.platypus import Paragraph, SimpleDocTemplate, Spacer

from commands.i18n import GERMAN, SOURCE_LANGUAGE, Texts
from domain.minutes import Item, Minutes, carried_reason, target_text
from storage.types import LOCAL_TZ

__all__ = [
    "JSON_FORMAT",
    "JSON_VERSION",
    "file_name",
    "md_escape",
    "to_json",
    "to_markdown",
    "to_pdf",
]

JSON_FORMAT = "fallkonferenz-protokoll"
JSON_VERSION = 1
_EXT = re.compile(r"[a-z0-9]{1,10}")
# The PDF's /Lang (BCP 47) per room language; other languages give their own code.
_PDF_LANG = {SOURCE_LANGUAGE: "de-DE"}


# --- shared pieces -----------------------------------------------------------------


def _local(moment: datetime) -> datetime:
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError("Protokoll: Zeitpunkte müssen eine Zeitzone haben")
    return moment.astimezone(LOCAL_TZ)


def _when(moment: datetime, t: Texts) -> str:
    """``Mi 09.12.2026 10:00`` in Berlin, in ``t``'s language (``Texts.when``)."""
    return t.when(_local(moment))


def file_name(minutes: Minutes, ext: str, t: Texts = GERMAN) -> str:
    """``protokoll-termin-12-2026-12-09.md`` (English: ``minutes-meeting-12-…``): session
    id and Berlin date, nothing of a case."""
    suffix = ext.removeprefix(".").lower()
    if not _EXT.fullmatch(suffix):
        raise ValueError(f"Ungültige Dateiendung: {ext!r}")
    # Translators: a file name; keep it lower case, ASCII, without spaces.
    day = _local(minutes.starts_at).date().isoformat()
    stem = t.gettext("protokoll-termin-%(id)s-%(date)s", id=minutes.session_id, date=day)
    return f"{stem}.{suffix}"


# --- layout: one document model for Markdown and PDF -----------------------------------


@dataclass(frozen=True)
class _Seg:
    """A piece of a line: fixed wording, a label (bold in the PDF) or a recorded value."""

    text: str
    kind: Literal["fixed", "label", "value"] = "fixed"


def _label(text: str) -> _Seg:
    return _Seg(text, "label")


def _v(text: str) -> _Seg:
    return _Seg(text, "value")


BlockKind = Literal["title", "section", "item", "para", "bullet", "numbered", "footer"]


@dataclass(frozen=True)
class _Block:
    kind: BlockKind
    segs: tuple[_Seg, ...]
    number: int = 0  # for "numbered"


def _block(kind: BlockKind, *segs: _Seg | str, number: int = 0) -> _Block:
    return _Block(kind, tuple(s if isinstance(s, _Seg) else _Seg(s) for s in segs), number)


# A recorded value stands in a translated sentence as \x00name\x00 until the sentence is
# cut into segments: the sentence stays one msgid, the value is still escaped.
_SLOT = re.compile("\x00(\\w+)\x00")


def _slots(*names: str) -> dict[str, str]:
    return {name: f"\x00{name}\x00" for name in names}


def _sentence(text: str, /, **values: str) -> list[_Seg]:
    """A translated ``text`` whose slots (:func:`_slots`) become the recorded ``values``."""
    segs: list[_Seg] = []
    for index, part in enumerate(_SLOT.split(text)):
        if index % 2:
            segs.append(_v(values[part]))
        elif part:
            segs.append(_Seg(part))
    return segs


def _title(minutes: Minutes, t: Texts) -> tuple[_Seg, ...]:
    text = t.gettext("Protokoll %(name)s – Termin #%(id)s", id=minutes.session_id, **_slots("name"))
    return tuple(_sentence(text, name=minutes.name))


def _joined(values: tuple[str, ...], sep: str = ", ") -> list[_Seg]:
    segs: list[_Seg] = []
    for index, value in enumerate(values):
        if index:
            segs.append(_Seg(sep))
        segs.append(_v(value))
    return segs


def _quorum_text(minutes: Minutes, t: Texts) -> str:
    values = {"present": minutes.institutions_present}
    if minutes.quorum_met:
        return t.ngettext(
            "ja (%(present)s von mindestens %(count)d Institution)",
            "ja (%(present)s von mindestens %(count)d Institutionen)",
            minutes.quorum,
            **values,
        )
    return t.ngettext(
        "nein (%(present)s von mindestens %(count)d Institution)",
        "nein (%(present)s von mindestens %(count)d Institutionen)",
        minutes.quorum,
        **values,
    )


def _item_blocks(number: int, item: Item, t: Texts) -> list[_Block]:
    heading = t.gettext("TOP %(number)s: %(case)s", number=number, **_slots("case"))
    blocks = [
        _block("item", *_sentence(heading, case=item.pseudonym)),
        _block("bullet", _label(t.gettext("Thema:")), " ", _v(item.topic)),
        _block("bullet", _label(t.gettext("Angefragt von:")), " ", _v(item.requested_by)),
        _block(
            "bullet",
            _label(t.gettext("Teilnehmende:")),
            " ",
            *(_joined(item.participants) if item.participants else [t.gettext("keine")]),
        ),
    ]
    if item.schutzauftrag:
        blocks.append(_block("bullet", _label(t.gettext("Schutzauftrag nach § 8a SGB VIII"))))
    if item.decisions:
        blocks.append(_block("para", _label(t.gettext("Beschlüsse:"))))
        blocks.extend(
            _block("numbered", _v(text), number=n) for n, text in enumerate(item.decisions, 1)
        )
    else:
        blocks.append(_block("para", _label(t.gettext("Beschlüsse:")), " ", t.gettext("keine")))
    if item.lotse is not None:
        blocks.append(_block("para", _label(t.gettext("Lotse:")), " ", _v(item.lotse)))
    if item.tasks:
        blocks.append(_block("para", _label(t.gettext("Aufgaben:"))))
        for task in item.tasks:
            values = {"owner": task.owner, "institution": task.institution, "text": task.text}
            if task.due is not None:
                line = t.gettext(
                    "%(owner)s (%(institution)s): %(text)s – bis %(due)s",
                    due=t.day(task.due),
                    **_slots(*values),
                )
            else:
                line = t.gettext("%(owner)s (%(institution)s): %(text)s", **_slots(*values))
            blocks.append(_block("bullet", *_sentence(line, **values)))
    if item.review is not None:
        blocks.append(_block("para", _label(t.gettext("Wiedervorlage:")), f" {t.day(item.review)}"))
    if item.carried is not None or item.carried_to is not None:
        values = {
            "reason": t.gettext("ohne Angabe")
            if item.carried is None
            else carried_reason(item.carried, t),
            "target": t.gettext("noch kein Termin")
            if item.carried_to is None
            else target_text(item.carried_to, t),
        }
        line = t.gettext("%(reason)s → %(target)s", **_slots(*values))
        blocks.append(
            _block("para", _label(t.gettext("Vertagt:")), " ", *_sentence(line, **values))
        )
    if item.closed:
        blocks.append(_block("para", _label(t.gettext("Fall erledigt"))))
    return blocks


def _layout(minutes: Minutes, t: Texts) -> list[_Block]:
    closed = (
        _when(minutes.closed_at, t) if minutes.closed_at is not None else t.gettext("noch offen")
    )
    opened = t.gettext("%(when)s von %(user)s", when=_when(minutes.opened_at, t), **_slots("user"))
    blocks = [
        _Block("title", _title(minutes, t)),
        _block("bullet", _label(t.gettext("Termin:")), f" {_when(minutes.starts_at, t)}"),
        _block(
            "bullet",
            _label(t.gettext("Eröffnet:")),
            " ",
            *_sentence(opened, user=minutes.opened_by),
        ),
        _block("bullet", _label(t.gettext("Geschlossen:")), " ", closed),
        _block("section", t.gettext("Anwesenheit")),
    ]
    for presence in minutes.presence:
        if presence.present:
            state = _joined(presence.present)
        elif presence.excused:
            state = [_Seg(t.gettext("entschuldigt"))]
        else:
            state = [_Seg(t.gettext("nicht vertreten"))]
        blocks.append(_block("bullet", _v(presence.institution), ": ", *state))
    if not minutes.presence:
        blocks.append(_block("para", t.gettext("Keine Institutionen erfasst.")))
    blocks.append(
        _block("para", _label(t.gettext("Beschlussfähigkeit:")), f" {_quorum_text(minutes, t)}")
    )
    blocks.append(_block("section", t.gettext("Tagesordnung")))
    for number, item in enumerate(minutes.items, 1):
        blocks.extend(_item_blocks(number, item, t))
    if not minutes.items:
        blocks.append(_block("para", t.gettext("Keine Fälle auf der Tagesordnung.")))
    if minutes.confirmed_by is not None:
        if minutes.confirmed_at is not None:
            line = t.gettext(
                "Bestätigt von %(user)s am %(when)s",
                when=_when(minutes.confirmed_at, t),
                **_slots("user"),
            )
        else:
            line = t.gettext("Bestätigt von %(user)s", **_slots("user"))
        blocks.append(_block("footer", *_sentence(line, user=minutes.confirmed_by)))
    else:
        blocks.append(_block("footer", t.gettext("Noch nicht bestätigt")))
    return blocks


# --- text clean-up shared by Markdown and PDF --------------------------------------

_BREAKS = frozenset(" \t\n\r\f\v\x1c\x1d\x1e\x1f\x85\u2028\u2029")


def _clean(text: str) -> str:
    """One line: white-space runs and line breaks become one space, control characters go.

    White space at either end (also no-break spaces) goes too: Markdown viewers drop it.
    """
    kept = "".join(
        " " if ch in _BREAKS else ch
        for ch in text
        if ch in _BREAKS or unicodedata.category(ch) != "Cc"
    )
    return " ".join(part for part in kept.split(" ") if part).strip()


# --- Markdown ------------------------------------------------------------------------

# Characters that are markup anywhere in a CommonMark/GFM line (emphasis, code,
# links, HTML and entities, tables, strike-through, headings, math in some viewers).
_MD_ANYWHERE = frozenset("\\`*_[]<>&|~#$")
# At the start of a line's content these open a block (list, heading underline, quote).
_MD_AT_START = frozenset("-+=>")
_MD_ORDERED = re.compile(r"(\d{1,9})([.)])")


def md_escape(text: str) -> str:
    """``text`` as CommonMark that renders as exactly ``_clean(text)``, wherever it stands."""
    clean = _clean(text)
    out = "".join("\\" + ch if ch in _MD_ANYWHERE else ch for ch in clean)
    if out[:1] in _MD_AT_START:
        out = "\\" + out
    ordered = _MD_ORDERED.match(out)
    if ordered:
        out = f"{ordered.group(1)}\\{ordered.group(2)}{out[ordered.end() :]}"
    return out


def _md_line(segs: tuple[_Seg, ...]) -> str:
    return "".join(md_escape(s.text) if s.kind == "value" else s.text for s in segs)


_MD_PREFIX: dict[str, str] = {
    "title": "# ",
    "section": "## ",
    "item": "### ",
    "para": "",
    "footer": "",
    "bullet": "- ",
}


def to_markdown(minutes: Minutes, t: Texts = GERMAN) -> str:
    """The minutes as CommonMark in ``t``'s language (German by default)."""
    lines: list[str] = []
    previous: str | None = None
    for block in _layout(minutes, t):
        listed = block.kind in ("bullet", "numbered")
        if previous is not None and not (listed and block.kind == previous):
            lines.append("")
        prefix = f"{block.number}. " if block.kind == "numbered" else _MD_PREFIX[block.kind]
        lines.append(prefix + _md_line(block.segs))
        previous = block.kind
    return "\n".join(lines) + "\n"


# --- JSON ----------------------------------------------------------------------------


def _instant(moment: datetime | None) -> str | None:
    return _local(moment).isoformat() if moment is not None else None


def _iso_day(day: date | None) -> str | None:
    return day.isoformat() if day is not None else None


def _json_item(number: int, item: Item, t: Texts) -> dict[str, Any]:
    carried = item.carried is not None or item.carried_to is not None
    target = target_text(item.carried_to, t) if item.carried_to is not None else None
    return {
        "nr": number,
        "pseudonym": item.pseudonym,
        "thema": item.topic,
        "angefragt_von": item.requested_by,
        "teilnehmende": list(item.participants),
        "schutzauftrag_8a": item.schutzauftrag,
        "beschlüsse": list(item.decisions),
        "lotse": item.lotse,
        "aufgaben": [
            {
                "verantwortlich": task.owner,
                "institution": task.institution,
                "text": task.text,
                "fällig": _iso_day(task.due),
            }
            for task in item.tasks
        ],
        "wiedervorlage": _iso_day(item.review),
        "vertagt": {"grund": item.carried, "auf": target} if carried else None,
        "erledigt": item.closed,
    }


def to_json(minutes: Minutes, t: Texts = GERMAN) -> str:
    """The exact values; keys are the same in every language, ``language`` says which
    language the display texts (``vertagt.auf``) are in."""
    confirmed = (
        {"von": minutes.confirmed_by, "am": _instant(minutes.confirmed_at)}
        if minutes.confirmed_by is not None
        else None
    )
    value = {
        "format": JSON_FORMAT,
        "version": JSON_VERSION,
        "language": t.language,
        "termin": {
            "id": minutes.session_id,
            "name": minutes.name,
            "beginn": _instant(minutes.starts_at),
            "eröffnet": _instant(minutes.opened_at),
            "eröffnet_von": minutes.opened_by,
            "geschlossen": _instant(minutes.closed_at),
            "quorum": minutes.quorum,
        },
        "anwesenheit": [
            {"institution": p.institution, "anwesend": list(p.present), "entschuldigt": p.excused}
            for p in minutes.presence
        ],
        "beschlussfähig": minutes.quorum_met,
        "punkte": [_json_item(n, item, t) for n, item in enumerate(minutes.items, 1)],
        "bestätigt": confirmed,
    }
    return json.dumps(value, ensure_ascii=False, sort_keys=True, indent=2) + "\n"


# --- PDF -----------------------------------------------------------------------------


def _xml(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _pdf_line(segs: tuple[_Seg, ...]) -> str:
    parts = []
    for seg in segs:
        if seg.kind == "value":
            parts.append(_xml(_clean(seg.text)))
        elif seg.kind == "label":
            parts.append(f"<b>{_xml(seg.text)}</b>")
        else:
            parts.append(_xml(seg.text))
    return "".join(parts)


def _styles() -> dict[str, Any]:
    base = ParagraphStyle("fk-text", fontName="Helvetica", fontSize=10, leading=13, spaceAfter=3)

    def derived(name: str, **kw: Any) -> Any:
        return ParagraphStyle(f"fk-{name}", parent=base, **kw)

    heading = {"fontName": "Helvetica-Bold", "keepWithNext": 1}
    return {
        "title": derived("title", fontSize=15, leading=19, spaceAfter=8, **heading),
        "section": derived("section", fontSize=12.5, leading=16, spaceBefore=10, **heading),
        "item": derived("item", fontSize=11, leading=14, spaceBefore=8, **heading),
        "para": derived("para", spaceBefore=4),
        "lead": derived("lead", spaceBefore=4, keepWithNext=1),  # "Beschlüsse:" + its list
        "footer": derived("footer", spaceBefore=12),
        "bullet": derived("bullet", leftIndent=14, bulletIndent=3, spaceAfter=1),
        "numbered": derived("numbered", leftIndent=20, bulletIndent=3, spaceAfter=1),
    }


def _story(blocks: list[_Block]) -> list[Any]:
    styles = _styles()
    story: list[Any] = []
    following = [*(b.kind for b in blocks[1:]), None]
    for block, after in zip(blocks, following, strict=True):
        bullet = None
        style = styles[block.kind]
        if block.kind == "bullet":
            bullet = "•"
        elif block.kind == "numbered":
            bullet = f"{block.number}."
        elif block.kind == "para" and after in ("bullet", "numbered"):
            style = styles["lead"]
        story.append(Paragraph(_pdf_line(block.segs), style, bulletText=bullet))
        if block.kind == "title":
            story.append(Spacer(1, 2 * mm))
    return story


def _render_pdf(minutes: Minutes, blocks: list[_Block], pages: int, t: Texts) -> tuple[bytes, int]:
    buffer = io.BytesIO()
    title = _clean("".join(s.text for s in blocks[0].segs))
    footer_left = t.gettext("Protokoll Termin #%(id)s", id=minutes.session_id)

    def page_footer(canvas: Any, doc: Any) -> None:
        canvas.saveState()
        canvas.setFont("Helvetica", 8)
        canvas.drawString(doc.leftMargin, 12 * mm, footer_left)
        right = doc.leftMargin + doc.width
        canvas.drawRightString(
            right,
            12 * mm,
            t.gettext("Seite %(page)s von %(pages)s", page=doc.page, pages=max(pages, doc.page)),
        )
        canvas.restoreState()

    doc = SimpleDocTemplate(
        buffer,
        pagesize=A4,
        leftMargin=20 * mm,
        rightMargin=20 * mm,
        topMargin=20 * mm,
        bottomMargin=22 * mm,
        title=title,
        author="Fallkonferenz-Bot",
        subject=footer_left,
        creator="fallkonferenz-bot",
        lang=_PDF_LANG.get(t.language, t.language),
        invariant=1,
    )
    doc.build(_story(blocks), onFirstPage=page_footer, onLaterPages=page_footer)
    return buffer.getvalue(), int(doc.page)


def to_pdf(minutes: Minutes, t: Texts = GERMAN) -> bytes:
    """The minutes as an A4 PDF in ``t``'s language (German by default)."""
    blocks = _layout(minutes, t)
    # The first pass counts the pages for "Seite n von m"; the footer lies outside the
    # frame, so the second pass breaks the pages in the same places.
    _, pages = _render_pdf(minutes, blocks, 0, t)
    data, again = _render_pdf(minutes, blocks, pages, t)
    if again != pages:  # pragma: no cover - would mean the layout is not deterministic
        raise RuntimeError("PDF-Protokoll: Seitenzahl hat sich zwischen zwei Läufen geändert")
    return data
