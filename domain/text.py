"""Texts that are translated where they are shown, not where they are made.

The domain and the repositories raise errors and build values long before anyone knows
which room will read them. They carry a :class:`Msg` — a catalog msgid and its values —
and the dispatcher or the timed runner renders it in the room's language
(``commands/i18n.py``). A value may itself be a :class:`Msg` or :class:`Plural`, so a
hint inside an error is translated with it; plain strings (names, pseudonyms, dates the
user typed) are inserted as they are.

``Msg("Termin #%(id)s abgesagt.", id=7)`` — the msgid is German, the source language;
``pybabel extract`` finds ``Msg`` and ``Plural`` (keywords in commands/i18n.py).
"""

from __future__ import annotations

from typing import Final, Protocol


class Translator(Protocol):
    """What :meth:`Msg.render` needs of a language: commands.i18n.Texts."""

    def gettext(self, message: str, **values: object) -> str: ...

    def ngettext(self, singular: str, plural: str, n: int, **values: object) -> str: ...


class Msg:
    """A catalog text and its ``%(name)s`` values, rendered in a language later."""

    __slots__ = ("msgid", "values")

    def __init__(self, msgid: str, **values: object) -> None:
        self.msgid = msgid
        self.values = values

    def render(self, t: Translator) -> str:
        return t.gettext(self.msgid, **_rendered(self.values, t))

    def __eq__(self, other: object) -> bool:
        return (
            isinstance(other, Msg)
            and type(other) is type(self)
            and (self.msgid, self.values) == (other.msgid, other.values)
        )

    def __hash__(self) -> int:
        return hash(self.msgid)

    def __str__(self) -> str:
        """The German (source-language) text: for logs and tests, never for a room."""
        return self.render(SOURCE)

    def __repr__(self) -> str:
        return f"Msg({self.msgid!r}, **{self.values!r})"


class Plural(Msg):
    """A text with a singular and a plural form; ``%(count)d`` is ``n``."""

    __slots__ = ("n", "plural")

    def __init__(self, singular: str, plural: str, n: int, **values: object) -> None:
        super().__init__(singular, **values)
        self.plural = plural
        self.n = n

    def render(self, t: Translator) -> str:
        return t.ngettext(self.msgid, self.plural, self.n, **_rendered(self.values, t))


class Joined(Msg):
    """Several texts shown one after the other (a sentence and its hint), each from
    the catalog; the separator is layout, not language."""

    __slots__ = ("parts", "separator")

    def __init__(self, *parts: Msg | str, separator: str = " ") -> None:
        super().__init__("")
        self.parts = parts
        self.separator = separator

    def render(self, t: Translator) -> str:
        return self.separator.join(
            p.render(t) if isinstance(p, Msg) else p for p in self.parts if p
        )


def N_(message: str) -> str:
    """Marks a msgid for extraction where it is written (commands.i18n.N_ is the same)."""
    return message


class _Source:
    """The source language: msgids are German, so rendering German is formatting —
    without gettext, for logs, ``str()`` of errors and the code below commands/."""

    def gettext(self, message: str, **values: object) -> str:
        return message % values if values else message

    def ngettext(self, singular: str, plural: str, n: int, **values: object) -> str:
        return (singular if n == 1 else plural) % {"count": n, **values}


SOURCE: Final[Translator] = _Source()


def render(value: object, t: Translator) -> str:
    """``value`` as text in ``t``'s language: a Msg is translated, anything else str()."""
    return value.render(t) if isinstance(value, Msg) else str(value)


def _rendered(values: dict[str, object], t: Translator) -> dict[str, object]:
    if not any(isinstance(v, Msg) for v in values.values()):
        return values
    return {k: v.render(t) if isinstance(v, Msg) else v for k, v in values.items()}
