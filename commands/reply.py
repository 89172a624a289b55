"""Replies built once, rendered twice: a plain ``body`` and an HTML ``formatted_body``.

Every piece of text goes through :func:`html.escape` unless it is one of the
few trusted markup spans below, so user input can never inject markup.
"""

from __future__ import annotations

import html
from collections.abc import Sequence
from dataclasses import dataclass, field

from domain.text import Translator


@dataclass(frozen=True)
class Span:
    text: str
    tag: str | None = None  # "b", "i" or "code"

    def plain(self) -> str:
        return f"`{self.text}`" if self.tag == "code" else self.text

    def html(self) -> str:
        escaped = html.escape(self.text, quote=False)
        return f"<{self.tag}>{escaped}</{self.tag}>" if self.tag else escaped


Part = str | Span


def b(text: str) -> Span:
    return Span(text, "b")


def i(text: str) -> Span:
    return Span(text, "i")


def code(text: str) -> Span:
    return Span(text, "code")


# A translated sentence with bold or code parts in it: the sentence is one catalog text
# whose placeholders for the spans are filled with ``holes(...)``, then ``fill`` cuts it
# at those holes and puts the spans in:
#     doc.para(*fill(t.gettext("❌ Termin %(id)s abgesagt.", **holes("id")), id=b("#3")))
_HOLE = "\x00"


def holes(*names: str) -> dict[str, str]:
    """Values for the placeholders that ``fill`` replaces with spans."""
    return {name: f"{_HOLE}{name}{_HOLE}" for name in names}


def fill(text: str, **spans: Part) -> tuple[Part, ...]:
    """``text`` (already translated, with ``holes``) as parts, each hole its span."""
    pieces = text.split(_HOLE)
    return tuple(spans[p] if i % 2 else p for i, p in enumerate(pieces) if i % 2 or p)


def spanned(t: Translator, msgid: str, **values: object) -> tuple[Part, ...]:
    """``msgid`` translated with its values, where a value that is a :class:`Span`
    (bold, code) stays one — ``holes`` and ``fill`` in one step. Mark a literal
    ``msgid`` with ``N_`` so that it is extracted."""
    spans = {k: v for k, v in values.items() if isinstance(v, Span)}
    plain = {k: v for k, v in values.items() if k not in spans}
    return fill(t.gettext(msgid, **plain, **holes(*spans)), **spans)


def spanned_n(
    t: Translator, singular: str, plural: str, n: int, **values: object
) -> tuple[Part, ...]:
    """:func:`spanned` with a singular and a plural form (``%(count)d`` is ``n``)."""
    spans = {k: v for k, v in values.items() if isinstance(v, Span)}
    plain = {k: v for k, v in values.items() if k not in spans}
    return fill(t.ngettext(singular, plural, n, **plain, **holes(*spans)), **spans)


def _spans(parts: tuple[Part, ...]) -> list[Span]:
    return [p if isinstance(p, Span) else Span(p) for p in parts]


@dataclass(frozen=True)
class Reply:
    plain: str
    html: str
    notice: bool = True
    mentions: tuple[str, ...] = ()  # Matrix ids to notify besides the sender

    def mentioning(self, *users: str) -> Reply:
        return Reply(self.plain, self.html, self.notice, (*self.mentions, *users))

    @classmethod
    def text(cls, *parts: Part) -> Reply:
        return Doc().para(*parts).build()


@dataclass
class Doc:
    """A small document: paragraphs and bullet lists."""

    _plain: list[str] = field(default_factory=list)
    _html: list[str] = field(default_factory=list)

    def para(self, *parts: Part) -> Doc:
        spans = _spans(parts)
        self._plain.append("".join(s.plain() for s in spans))
        self._html.append("<p>" + "".join(s.html() for s in spans) + "</p>")
        return self

    def items(self, rows: Sequence[tuple[Part, ...]]) -> Doc:
        if not rows:
            return self
        plain_rows, html_rows = [], []
        for row in rows:
            spans = _spans(row)
            plain_rows.append("• " + "".join(s.plain() for s in spans))
            html_rows.append("<li>" + "".join(s.html() for s in spans) + "</li>")
        self._plain.append("\n".join(plain_rows))
        self._html.append("<ul>" + "".join(html_rows) + "</ul>")
        return self

    def append(self, reply: Reply) -> Doc:
        """Add a finished reply's paragraphs (e.g. an agenda inside an answer)."""
        self._plain.append(reply.plain)
        self._html.append(reply.html)
        return self

    def build(self, *, notice: bool = True) -> Reply:
        return Reply("\n\n".join(self._plain), "".join(self._html), notice)
