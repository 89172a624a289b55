"""The minutes (Protokoll) of a session as Markdown, JSON and PDF files.

Every export is rendered from one :class:`~domain.minutes.Minutes` value, and the
Markdown and the PDF from one layout (:func:`_layout`) of it, so the three cannot
disagree about what was recorded. Only what the value carries appears: pseudonyms,
institution names, Matrix ids of staff and the (guarded) texts of topics,
decisions and tasks. Times are shown in Europe/Berlin.

The module is pure: no clock, no I/O, nothing from Matrix. Rendering the same value
twice gives the same bytes, in all three formats.

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

    ``vertagt.auf`` is the target session as display text ("Termin #13 am Mi
    13.01.2027 10:00"), or null while there is none. Texts are unchanged (no
    escaping, no white-space folding); the output uses UTF-8 characters, not
    ``\\u`` escapes. A reader must ignore keys it does not know; a change that
    removes or redefines a key raises ``version``.

PDF
    A4 with reportlab's platypus and the built-in Helvetica (not embedded), whose
    WinAnsi encoding covers German and Western European text (ä ö ü ß § € – „ “);
    reportlab takes arrows and mathematical signs (→ ≥) from the built-in Symbol
    font. A character neither has (e.g. ł, emoji) is drawn as ■. Every page ends
    with "Seite n von m". Built with reportlab's ``invariant`` mode, so the same
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

from domain.minutes import Item, Minutes
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
_WEEKDAY = ("Mo", "Di", "Mi", "Do", "Fr", "Sa", "So")
_EXT = re.compile(r"[a-z0-9]{1,10}")


# --- shared pieces -----------------------------------------------------------------


def _local(moment: datetime) -> datetime:
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError("Protokoll: Zeitpunkte müssen eine Zeitzone haben")
    return moment.astimezone(LOCAL_TZ)


def _when(moment: datetime) -> str:
    """ "Mi 09.12.2026 10:00" in Berlin."""
    local = _local(moment)
    return f"{_WEEKDAY[local.weekday()]} {local:%d.%m.%Y %H:%M}"


def _day(day: date) -> str:
    return day.strftime("%d.%m.%Y")


def file_name(minutes: Minutes, ext: str) -> str:
    """``protokoll-termin-12-2026-12-09.md``: session id and Berlin date, nothing of a case."""
    suffix = ext.removeprefix(".").lower()
    if not _EXT.fullmatch(suffix):
        raise ValueError(f"Ungültige Dateiendung: {ext!r}")
    return f"protokoll-termin-{minutes.session_id}-{_local(minutes.starts_at):%Y-%m-%d}.{suffix}"


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


def _title(minutes: Minutes) -> tuple[_Seg, ...]:
    return (_Seg("Protokoll "), _v(minutes.name), _Seg(f" – Termin #{minutes.session_id}"))


def _joined(values: tuple[str, ...], sep: str = ", ") -> list[_Seg]:
    segs: list[_Seg] = []
    for index, value in enumerate(values):
        if index:
            segs.append(_Seg(sep))
        segs.append(_v(value))
    return segs


def _quorum_text(minutes: Minutes) -> str:
    word = "Institution" if minutes.quorum == 1 else "Institutionen"
    verdict = "ja" if minutes.quorum_met else "nein"
    return f"{verdict} ({minutes.institutions_present} von mindestens {minutes.quorum} {word})"


def _item_blocks(number: int, item: Item) -> list[_Block]:
    blocks = [
        _block("item", f"TOP {number}: ", _v(item.pseudonym)),
        _block("bullet", _label("Thema:"), " ", _v(item.topic)),
        _block("bullet", _label("Angefragt von:"), " ", _v(item.requested_by)),
        _block(
            "bullet",
            _label("Teilnehmende:"),
            " ",
            *(_joined(item.participants) if item.participants else ["keine"]),
        ),
    ]
    if item.schutzauftrag:
        blocks.append(_block("bullet", _label("Schutzauftrag nach § 8a SGB VIII")))
    if item.decisions:
        blocks.append(_block("para", _label("Beschlüsse:")))
        blocks.extend(
            _block("numbered", _v(text), number=n) for n, text in enumerate(item.decisions, 1)
        )
    else:
        blocks.append(_block("para", _label("Beschlüsse:"), " keine"))
    if item.lotse is not None:
        blocks.append(_block("para", _label("Lotse:"), " ", _v(item.lotse)))
    if item.tasks:
        blocks.append(_block("para", _label("Aufgaben:")))
        for task in item.tasks:
            due = [f" – bis {_day(task.due)}"] if task.due is not None else []
            blocks.append(
                _block(
                    "bullet",
                    _v(task.owner),
                    " (",
                    _v(task.institution),
                    "): ",
                    _v(task.text),
                    *due,
                )
            )
    if item.review is not None:
        blocks.append(_block("para", _label("Wiedervorlage:"), f" {_day(item.review)}"))
    if item.carried is not None or item.carried_to is not None:
        reason = _v(item.carried) if item.carried is not None else _Seg("ohne Angabe")
        target = _v(item.carried_to) if item.carried_to is not None else _Seg("noch kein Termin")
        blocks.append(_block("para", _label("Vertagt:"), " ", reason, " → ", target))
    if item.closed:
        blocks.append(_block("para", _label("Fall erledigt")))
    return blocks


def _layout(minutes: Minutes) -> list[_Block]:
    closed = _Seg(_when(minutes.closed_at)) if minutes.closed_at is not None else _Seg("noch offen")
    blocks = [
        _Block("title", _title(minutes)),
        _block("bullet", _label("Termin:"), f" {_when(minutes.starts_at)}"),
        _block(
            "bullet",
            _label("Eröffnet:"),
            f" {_when(minutes.opened_at)} von ",
            _v(minutes.opened_by),
        ),
        _block("bullet", _label("Geschlossen:"), " ", closed),
        _block("section", "Anwesenheit"),
    ]
    for presence in minutes.presence:
        if presence.present:
            state = _joined(presence.present)
        else:
            state = [_Seg("entschuldigt" if presence.excused else "nicht vertreten")]
        blocks.append(_block("bullet", _v(presence.institution), ": ", *state))
    if not minutes.presence:
        blocks.append(_block("para", "Keine Institutionen erfasst."))
    blocks.append(_block("para", _label("Beschlussfähigkeit:"), f" {_quorum_text(minutes)}"))
    blocks.append(_block("section", "Tagesordnung"))
    for number, item in enumerate(minutes.items, 1):
        blocks.extend(_item_blocks(number, item))
    if not minutes.items:
        blocks.append(_block("para", "Keine Fälle auf der Tagesordnung."))
    if minutes.confirmed_by is not None:
        at = [f" am {_when(minutes.confirmed_at)}"] if minutes.confirmed_at is not None else []
        blocks.append(_block("footer", "Bestätigt von ", _v(minutes.confirmed_by), *at))
    else:
        blocks.append(_block("footer", "Noch nicht bestätigt"))
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


def to_markdown(minutes: Minutes) -> str:
    lines: list[str] = []
    previous: str | None = None
    for block in _layout(minutes):
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


def _json_item(number: int, item: Item) -> dict[str, Any]:
    carried = item.carried is not None or item.carried_to is not None
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
        "vertagt": {"grund": item.carried, "auf": item.carried_to} if carried else None,
        "erledigt": item.closed,
    }


def to_json(minutes: Minutes) -> str:
    confirmed = (
        {"von": minutes.confirmed_by, "am": _instant(minutes.confirmed_at)}
        if minutes.confirmed_by is not None
        else None
    )
    value = {
        "format": JSON_FORMAT,
        "version": JSON_VERSION,
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
        "punkte": [_json_item(n, item) for n, item in enumerate(minutes.items, 1)],
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


def _render_pdf(minutes: Minutes, blocks: list[_Block], pages: int) -> tuple[bytes, int]:
    buffer = io.BytesIO()
    title = _clean("".join(s.text for s in blocks[0].segs))
    footer_left = f"Protokoll Termin #{minutes.session_id}"

    def page_footer(canvas: Any, doc: Any) -> None:
        canvas.saveState()
        canvas.setFont("Helvetica", 8)
        canvas.drawString(doc.leftMargin, 12 * mm, footer_left)
        right = doc.leftMargin + doc.width
        canvas.drawRightString(right, 12 * mm, f"Seite {doc.page} von {max(pages, doc.page)}")
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
        subject=f"Protokoll Termin #{minutes.session_id}",
        creator="fallkonferenz-bot",
        lang="de-DE",
        invariant=1,
    )
    doc.build(_story(blocks), onFirstPage=page_footer, onLaterPages=page_footer)
    return buffer.getvalue(), int(doc.page)


def to_pdf(minutes: Minutes) -> bytes:
    blocks = _layout(minutes)
    # The first pass counts the pages for "Seite n von m"; the footer lies outside the
    # frame, so the second pass breaks the pages in the same places.
    _, pages = _render_pdf(minutes, blocks, 0)
    data, again = _render_pdf(minutes, blocks, pages)
    if again != pages:  # pragma: no cover - would mean the layout is not deterministic
        raise RuntimeError("PDF-Protokoll: Seitenzahl hat sich zwischen zwei Läufen geändert")
    return data
