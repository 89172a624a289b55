"""Texts in the room's language: gettext catalogs maintained with Babel.

German is the source language: every msgid is the German text, so a German room needs
no catalog at all (``gettext.NullTranslations`` hands the msgid back, and its plural
rule — singular for 1, plural otherwise — is German's). Other languages are read from
``commands/locale/<lang>/LC_MESSAGES/fkbot.po`` the first time a room needs them, with
Babel's PO reader, and compiled in memory: no compile step, a fresh clone works, and a
bot whose rooms all speak German never imports Babel.

Texts keep ``%(name)s`` placeholders; pass the values as keywords::

    ctx.t.gettext("Termin #%(id)s abgesagt.", id=session.id)
    ctx.t.ngettext("%(count)d Fall", "%(count)d Fälle", n)  # count=n is given

Declared texts (summaries, parameter descriptions) are marked with :func:`N_` where
they are written and translated where they are shown. To re-extract and update the
catalogs see docs/OPERATIONS.md ("Languages").
"""

from __future__ import annotations

import gettext
import io
import os
import sys
import threading
from collections.abc import Mapping
from datetime import date, datetime
from functools import cache
from pathlib import Path
from typing import Final

from domain.text import Msg
from storage.types import LOCAL_TZ

DOMAIN: Final = "fkbot"
SOURCE_LANGUAGE: Final = "de"
LOCALE_DIR: Final = Path(__file__).with_name("locale")

# Where texts are written, and the calls that mark them besides gettext, ngettext and
# N_: the lazy texts of domain/text.py (``Msg(msgid, …)``, ``Plural(sing, plur, n)``).
SOURCE_FOLDERS: Final = ("bot", "commands", "domain", "storage")
EXTRA_KEYWORDS: Final = ("Msg", "Plural:1,2")
EXTRACT_KEYWORDS: Final = {"Msg": None, "Plural": (1, 2)}

_lock = threading.Lock()


def N_(message: str) -> str:
    """Marks a text for extraction where it is declared; translated where it is shown."""
    return message


def languages() -> tuple[str, ...]:
    """The languages a room can speak: the source language and every catalog."""
    found = {p.parent.parent.name for p in LOCALE_DIR.glob(f"*/LC_MESSAGES/{DOMAIN}.po")}
    return tuple(sorted(found | {SOURCE_LANGUAGE}))


# Weekday abbreviations, Monday first, for German dates like "Do 26.11.2026 10:00";
# other languages take theirs from CLDR through Babel (Texts.when).
WEEKDAYS_DE: Final = ("Mo", "Di", "Mi", "Do", "Fr", "Sa", "So")


class Texts:
    """One language's texts: ``gettext`` and ``ngettext`` with ``%(name)s`` values."""

    def __init__(self, language: str, translations: gettext.NullTranslations) -> None:
        self.language = language
        self._translations = translations

    def gettext(self, message: str, **values: object) -> str:
        if not message:
            return message  # gettext("") would be the catalog's header
        text = self._translations.gettext(message)
        return text % self._values(values) if values else text

    def ngettext(self, singular: str, plural: str, n: int, **values: object) -> str:
        """The form for ``n``; ``%(count)d`` in the text is ``n``."""
        return self._translations.ngettext(singular, plural, n) % {
            "count": n,
            **self._values(values),
        }

    def _values(self, values: dict[str, object]) -> dict[str, object]:
        """Values that are lazy texts (domain/text.py) in this language too."""
        return {k: v.render(self) if isinstance(v, Msg) else v for k, v in values.items()}

    def when(self, moment: datetime) -> str:
        """A moment in Berlin time: ``Mi 13.01.2027 10:00`` / ``Wed 13 Jan 2027, 10:00``."""
        local = moment.astimezone(LOCAL_TZ)
        if self.language == SOURCE_LANGUAGE:
            return f"{WEEKDAYS_DE[local.weekday()]} {local:%d.%m.%Y %H:%M}"
        # Translators: a CLDR date pattern (Babel), e.g. "EEE d MMM y, HH:mm".
        return self._cldr(local, self.gettext("EEE dd.MM.y HH:mm"))

    def day(self, day: date) -> str:
        """A date: ``13.01.2027`` / ``13 Jan 2027``."""
        if self.language == SOURCE_LANGUAGE:
            return day.strftime("%d.%m.%Y")
        # Translators: a CLDR date pattern (Babel), e.g. "d MMM y".
        return self._cldr(day, self.gettext("dd.MM.y"))

    def time(self, moment: datetime) -> str:
        """A time of day in Berlin: ``10:00`` in every language so far."""
        return f"{moment.astimezone(LOCAL_TZ):%H:%M}"

    def _cldr(self, value: date, pattern: str) -> str:
        from babel.dates import format_date, format_datetime

        if isinstance(value, datetime):
            return format_datetime(value, pattern, locale=self.language)
        return format_date(value, pattern, locale=self.language)

    def __repr__(self) -> str:
        return f"Texts({self.language!r})"


def texts(language: str | None = None) -> Texts:
    """The texts of ``language`` (None: the source language); unknown languages fall
    back to German rather than fail — the setting and the command check the name."""
    if not language or language == SOURCE_LANGUAGE:
        return GERMAN
    with _lock:
        return _load(language)


@cache
def _load(language: str) -> Texts:
    path = LOCALE_DIR / language / "LC_MESSAGES" / f"{DOMAIN}.po"
    if not path.is_file():
        return GERMAN
    # Imported here: only a bot with a room in another language pays for Babel.
    from babel.messages.mofile import write_mo
    from babel.messages.pofile import read_po

    with path.open("rb") as po:
        catalog = read_po(po, locale=language, domain=DOMAIN)
    compiled = io.BytesIO()
    write_mo(compiled, catalog, use_fuzzy=False)
    compiled.seek(0)
    return Texts(language, gettext.GNUTranslations(compiled))


GERMAN: Final = Texts(SOURCE_LANGUAGE, gettext.NullTranslations())

# The variables that name the operator's language, as gettext reads them: the first
# set of LC_ALL, LC_MESSAGES and LANG is the locale; LANGUAGE lists preferences
# ("fr:en") and counts unless the locale is "C"/"POSIX" (then gettext ignores it).
LOCALE_VARIABLES: Final = ("LC_ALL", "LC_MESSAGES", "LANG")


def locale_language(environ: Mapping[str, str] | None = None) -> str:
    """The language of the operator's locale for the command line: ``en_GB.UTF-8`` →
    ``en``, ``de_DE`` → ``de``; "C", "POSIX", nothing set or a language without a
    catalog → German, the source language."""
    env = os.environ if environ is None else environ
    locale = next((env[name] for name in LOCALE_VARIABLES if env.get(name)), "")
    if _plain(locale) in ("", "c", "posix"):
        return SOURCE_LANGUAGE
    wanted = [*env.get("LANGUAGE", "").split(":"), locale]
    known = {language.lower(): language for language in languages()}
    for entry in wanted:
        name = _plain(entry)
        for candidate in (name, name.split("_")[0]):
            if candidate in known:
                return known[candidate]
    return SOURCE_LANGUAGE


def _plain(locale: str) -> str:
    """``en_GB.UTF-8@euro`` → ``en_gb``: the language and territory only."""
    return locale.split(".")[0].split("@")[0].strip().replace("-", "_").lower()


def _maintain(new: list[str]) -> None:  # pragma: no cover - a developer's tool
    """Re-extract the texts and bring every catalog up to date: ``python -m
    commands.i18n [new language …]`` in the repository (docs/OPERATIONS.md). pybabel
    extracts into ``fkbot.pot`` and updates each catalog (new texts arrive empty,
    changed ones fuzzy); the German catalog is then filled from the msgids, because
    German is the source. What stays empty or fuzzy in
    another language is listed — the catalog test fails until it is translated."""
    from babel.messages.frontend import CommandLineInterface
    from babel.messages.pofile import read_po, write_po

    os.chdir(LOCALE_DIR.parent.parent)  # locations relative to the repository
    pot = LOCALE_DIR / f"{DOMAIN}.pot"
    common = ["--width=100", "--sort-by-file", "--add-location=file"]

    def pybabel(*args: str) -> None:
        CommandLineInterface().run(["pybabel", "-q", *args])  # type: ignore[no-untyped-call]

    pybabel(
        "extract",
        *common,
        "--project=fallkonferenz-bot",
        "--copyright-holder=fallkonferenz-bot",
        f"--output-file={pot}",
        *(f"--keyword={k}" for k in EXTRA_KEYWORDS),
        *SOURCE_FOLDERS,
    )
    for language in sorted(set(new) | set(languages())):
        if not (LOCALE_DIR / language / "LC_MESSAGES" / f"{DOMAIN}.po").is_file():
            pybabel(
                "init",
                f"--locale={language}",
                "--width=100",
                f"--domain={DOMAIN}",
                f"--input-file={pot}",
                f"--output-dir={LOCALE_DIR}",
            )
    pybabel(
        "update",
        "--width=100",
        "--ignore-obsolete",
        f"--domain={DOMAIN}",
        f"--input-file={pot}",
        f"--output-dir={LOCALE_DIR}",
    )
    for language in languages():
        path = LOCALE_DIR / language / "LC_MESSAGES" / f"{DOMAIN}.po"
        with path.open("rb") as source:
            catalog = read_po(source, locale=language, domain=DOMAIN)
        open_entries = []
        for message in catalog:
            if not message.id:
                continue
            if language == SOURCE_LANGUAGE:
                message.string = message.id
                message.flags.discard("fuzzy")
            elif "fuzzy" in message.flags or not all(
                message.string if isinstance(message.string, tuple) else (message.string,)
            ):
                open_entries.append(message.id)
        with path.open("wb") as target:
            write_po(target, catalog, width=100, sort_by_file=True, include_previous=True)
        for msgid in open_entries:
            print(f"{language}: zu übersetzen: {msgid!r}")


if __name__ == "__main__":
    _maintain(sys.argv[1:])
