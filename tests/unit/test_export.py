"""The minutes exports (Markdown, JSON, PDF) read back and compared with what was recorded.

The Minutes values are built by hand. Markdown is parsed line by line and unescaped
with CommonMark's backslash rule; JSON goes through ``json.loads``; the PDF is read
back by pypdf, which did not write it. Each export must carry every recorded
outcome, in order, and nothing case-specific that was not recorded.
"""

from __future__ import annotations

import dataclasses
import io
import json
import re
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st
from pypdf import PdfReader

from commands.export import file_name, to_json, to_markdown, to_pdf
from commands.i18n import GERMAN
from domain.minutes import Item, Minutes, Presence, SessionRef, TaskLine, target_text

JA = "Jugendamt Musterstadt"
JC = "Jobcenter Musterstadt"
KJH = "Kinder- & Jugendhilfe <Nord>"  # markup characters in a name
SCHULE = "Schule am Park"
BERLIN = ZoneInfo("Europe/Berlin")

DECISIONS_1 = (
    "Hilfeplangespräch nach § 36 SGB VIII – „zeitnah“ ansetzen; Größe der Gruppe klären",
    "*Kein* Wechsel; [Plan](x) | `Stufe 2` <b>fett</b> & _so_ # ~~weg~~ $x$",
    "1. Prüfung bis Ende Januar",
)
TASK_1 = TaskLine("@ja1:example.org", JA, "Termin mit Schule vereinbaren", date(2026, 12, 15))
TASK_2 = TaskLine("@kjh_2:example.org", KJH, "Angebot _Lerntherapie_ prüfen", None)

ITEM_DECIDED = Item(
    pseudonym="FK-7QX2-M6",
    topic="Schulabsentismus",
    requested_by=JA,
    participants=(JA, SCHULE),
    schutzauftrag=True,
    decisions=DECISIONS_1,
    lotse="@lotse:example.org (Jugendamt Musterstadt)",
    tasks=(TASK_1, TASK_2),
    review=date(2027, 1, 13),
    carried=None,
    carried_to=None,
    closed=False,
)
ITEM_CARRIED = Item(
    pseudonym="FK-9KP4-T1",
    topic="Übergang Schule–Beruf",
    requested_by=JC,
    participants=(JC, JA),
    schutzauftrag=False,
    decisions=(),
    lotse=None,
    tasks=(),
    review=None,
    carried="nicht behandelt",
    carried_to=SessionRef(13, datetime(2027, 1, 13, 9, 0, tzinfo=UTC)),  # Mi 10:00 Berlin
    closed=False,
)
ITEM_CLOSED = Item(
    pseudonym="FK-3MD8-A2",
    topic="Wohnsituation",
    requested_by=JA,
    participants=(JA,),
    schutzauftrag=False,
    decisions=("Hilfe beendet, Ziele erreicht",),
    lotse=None,
    tasks=(),
    review=None,
    carried=None,
    carried_to=None,
    closed=True,
)

# Wednesday 09.12.2026, 10:00 in Berlin (winter time, UTC+1).
STARTS = datetime(2026, 12, 9, 9, 0, tzinfo=UTC)
MINUTES = Minutes(
    session_id=12,
    name="Fallkonferenz Nord",
    starts_at=STARTS,
    opened_at=STARTS + timedelta(minutes=2),
    closed_at=STARTS + timedelta(minutes=100),
    opened_by="@mod:example.org",
    presence=(
        Presence(JA, ("@ja1:example.org", "@ja_2:example.org"), excused=False),
        Presence(JC, (), excused=True),
        Presence(KJH, ("@kjh_2:example.org",), excused=False),
        Presence(SCHULE, (), excused=False),
    ),
    quorum=2,
    items=(ITEM_DECIDED, ITEM_CARRIED, ITEM_CLOSED),
    confirmed_by="@mod:example.org",
    confirmed_at=STARTS + timedelta(hours=2, seconds=30, microseconds=250),
)
# Only one institution there, two needed; not yet closed nor confirmed.
NO_QUORUM = dataclasses.replace(
    MINUTES,
    presence=(Presence(JA, ("@ja1:example.org",), False), Presence(JC, (), True)),
    closed_at=None,
    confirmed_by=None,
    confirmed_at=None,
)

EXPECTED_MARKDOWN = r"""# Protokoll Fallkonferenz Nord – Termin #12

- Termin: Mi 09.12.2026 10:00
- Eröffnet: Mi 09.12.2026 10:02 von @mod:example.org
- Geschlossen: Mi 09.12.2026 11:40

## Anwesenheit

- Jugendamt Musterstadt: @ja1:example.org, @ja\_2:example.org
- Jobcenter Musterstadt: entschuldigt
- Kinder- \& Jugendhilfe \<Nord\>: @kjh\_2:example.org
- Schule am Park: nicht vertreten

Beschlussfähigkeit: ja (2 von mindestens 2 Institutionen)

## Tagesordnung

### TOP 1: FK-7QX2-M6

- Thema: Schulabsentismus
- Angefragt von: Jugendamt Musterstadt
- Teilnehmende: Jugendamt Musterstadt, Schule am Park
- Schutzauftrag nach § 8a SGB VIII

Beschlüsse:

1. Hilfeplangespräch nach § 36 SGB VIII – „zeitnah“ ansetzen; Größe der Gruppe klären
2. \*Kein\* Wechsel; \[Plan\](x) \| \`Stufe 2\` \<b\>fett\</b\> \& \_so\_ \# \~\~weg\~\~ \$x\$
3. 1\. Prüfung bis Ende Januar

Lotse: @lotse:example.org (Jugendamt Musterstadt)

Aufgaben:

- @ja1:example.org (Jugendamt Musterstadt): Termin mit Schule vereinbaren – bis 15.12.2026
- @kjh\_2:example.org (Kinder- \& Jugendhilfe \<Nord\>): Angebot \_Lerntherapie\_ prüfen

Wiedervorlage: 13.01.2027

### TOP 2: FK-9KP4-T1

- Thema: Übergang Schule–Beruf
- Angefragt von: Jobcenter Musterstadt
- Teilnehmende: Jobcenter Musterstadt, Jugendamt Musterstadt

Beschlüsse: keine

Vertagt: nicht behandelt → Termin \#13 am Mi 13.01.2027 10:00

### TOP 3: FK-3MD8-A2

- Thema: Wohnsituation
- Angefragt von: Jugendamt Musterstadt
- Teilnehmende: Jugendamt Musterstadt

Beschlüsse:

1. Hilfe beendet, Ziele erreicht

Fall erledigt

Bestätigt von @mod:example.org am Mi 09.12.2026 12:00
"""

# --- helpers ---------------------------------------------------------------------------

_MD_SPECIAL = set("\\`*_[]<>&|~#$")
PSEUDONYM = re.compile(r"FK-[0-9A-Z]{4}-[0-9A-Z]{2}")
MATRIX_ID = re.compile(r"@[a-z0-9._=\-/+]+:[a-z0-9.\-]+")


def unescape(markdown: str) -> str:
    """CommonMark's backslash escapes: a backslash before ASCII punctuation is dropped."""
    return re.sub(r"\\([!-/:-@\[-`{-~])", r"\1", markdown)


def one_line(text: str) -> str:
    return " ".join(text.split())


def with_decisions(*decisions: str, minutes: Minutes = MINUTES) -> Minutes:
    item = dataclasses.replace(ITEM_DECIDED, decisions=decisions)
    return dataclasses.replace(minutes, items=(item,))


def pdf_text(data: bytes) -> list[str]:
    return [page.extract_text() for page in PdfReader(io.BytesIO(data)).pages]


def pdf_flat(data: bytes) -> str:
    """All pages as one line: line wrapping in the PDF must not hide a text."""
    return one_line(" ".join(pdf_text(data)))


def all_strings(value: Any) -> list[str]:
    """Every string a Minutes value carries (recursively), i.e. everything recorded."""
    if isinstance(value, str):
        return [value]
    if isinstance(value, tuple):
        return [s for v in value for s in all_strings(v)]
    if dataclasses.is_dataclass(value):
        return [s for f in dataclasses.fields(value) for s in all_strings(getattr(value, f.name))]
    return []


# --- Markdown ----------------------------------------------------------------------------


def test_markdown_is_exactly_the_expected_document() -> None:
    assert to_markdown(MINUTES) == EXPECTED_MARKDOWN


def parse_items(markdown: str) -> list[dict[str, Any]]:
    """The agenda items of an exported Markdown, unescaped, as recorded outcomes."""
    sections = re.split(r"^### ", markdown, flags=re.MULTILINE)[1:]
    items = []
    for number, section in enumerate(sections, 1):
        lines = [line for line in section.splitlines() if line]
        heading = re.fullmatch(r"TOP (\d+): (.+)", lines[0])
        assert heading is not None, lines[0]
        assert int(heading.group(1)) == number
        fields: dict[str, Any] = {"pseudonym": unescape(heading.group(2)), "decisions": []}
        fields.update(tasks=[], lotse=None, review=None, carried=None, closed=False)
        mode = None
        for line in lines[1:]:
            if line.startswith("Bestätigt von") or line == "Noch nicht bestätigt":
                break
            if line in ("Beschlüsse:", "Aufgaben:"):
                mode = line
            elif mode == "Beschlüsse:" and (m := re.fullmatch(r"(\d+)\. (.*)", line)):
                assert int(m.group(1)) == len(fields["decisions"]) + 1
                fields["decisions"].append(unescape(m.group(2)))
            elif mode == "Aufgaben:" and line.startswith("- "):
                m = re.fullmatch(r"- (\S+) \((.+?)\): (.*?)(?: – bis (\d\d\.\d\d\.\d{4}))?", line)
                assert m is not None, line
                fields["tasks"].append(tuple(unescape(g) if g else g for g in m.groups()))
            elif line.startswith("Lotse: "):
                fields["lotse"] = unescape(line.removeprefix("Lotse: "))
            elif line.startswith("Wiedervorlage: "):
                fields["review"] = line.removeprefix("Wiedervorlage: ")
            elif line.startswith("Vertagt: "):
                fields["carried"] = unescape(line.removeprefix("Vertagt: "))
            elif line == "Fall erledigt":
                fields["closed"] = True
            elif line.startswith("- ") and mode is None:
                label, _, value = line.removeprefix("- ").partition(": ")
                fields[label] = unescape(value) if value else True
            elif line != "Beschlüsse: keine":
                raise AssertionError(f"unexpected line: {line!r}")
        items.append(fields)
    return items


def expected_fields(item: Item) -> dict[str, Any]:
    fields: dict[str, Any] = {
        "pseudonym": item.pseudonym,
        "Thema": item.topic,
        "Angefragt von": item.requested_by,
        "Teilnehmende": ", ".join(item.participants) or "keine",
        "decisions": list(item.decisions),
        "lotse": item.lotse,
        "tasks": [
            (t.owner, t.institution, t.text, t.due.strftime("%d.%m.%Y") if t.due else None)
            for t in item.tasks
        ],
        "review": item.review.strftime("%d.%m.%Y") if item.review else None,
        "carried": f"{item.carried} → {target(item)}" if item.carried else None,
        "closed": item.closed,
    }
    if item.schutzauftrag:
        fields["Schutzauftrag nach § 8a SGB VIII"] = True
    return fields


def target(item: Item) -> str:
    return target_text(item.carried_to, GERMAN) if item.carried_to else "noch kein Termin"


@pytest.mark.parametrize("minutes", [MINUTES, NO_QUORUM], ids=["quorum", "no-quorum"])
def test_markdown_items_carry_exactly_the_recorded_outcomes_in_order(minutes: Minutes) -> None:
    assert parse_items(to_markdown(minutes)) == [expected_fields(i) for i in minutes.items]


def test_markdown_reordered_items_come_out_reordered() -> None:
    items = (ITEM_CLOSED, ITEM_DECIDED, ITEM_CARRIED)
    parsed = parse_items(to_markdown(dataclasses.replace(MINUTES, items=items)))
    assert [p["pseudonym"] for p in parsed] == ["FK-3MD8-A2", "FK-7QX2-M6", "FK-9KP4-T1"]
    assert parsed[1]["decisions"] == list(DECISIONS_1)


def test_markdown_carried_over_without_a_target_session() -> None:
    item = dataclasses.replace(ITEM_CARRIED, carried="Fachkraft erkrankt", carried_to=None)
    markdown = to_markdown(dataclasses.replace(MINUTES, items=(item,)))
    assert "\nVertagt: Fachkraft erkrankt → noch kein Termin\n" in markdown
    assert "Termin \\#13" not in markdown


def test_markdown_presence_quorum_and_footer_when_quorum_is_missed() -> None:
    lines = to_markdown(NO_QUORUM).splitlines()
    anwesenheit = lines[lines.index("## Anwesenheit") + 2 : lines.index("## Tagesordnung") - 1]
    assert anwesenheit == [
        "- Jugendamt Musterstadt: @ja1:example.org",
        "- Jobcenter Musterstadt: entschuldigt",
        "",
        "Beschlussfähigkeit: nein (1 von mindestens 2 Institutionen)",
    ]
    assert "- Geschlossen: noch offen" in lines
    assert lines[-1] == "Noch nicht bestätigt"
    assert not any(line.startswith("Bestätigt") for line in lines)


@pytest.mark.parametrize(
    ("quorum", "line"),
    [
        (1, "Beschlussfähigkeit: ja (2 von mindestens 1 Institution)"),
        (2, "Beschlussfähigkeit: ja (2 von mindestens 2 Institutionen)"),
        (3, "Beschlussfähigkeit: nein (2 von mindestens 3 Institutionen)"),
    ],
)
def test_markdown_quorum_line(quorum: int, line: str) -> None:
    lines = to_markdown(dataclasses.replace(MINUTES, quorum=quorum)).splitlines()
    assert [x for x in lines if x.startswith("Beschlussfähigkeit")] == [line]


def test_markdown_shows_berlin_time_in_summer() -> None:
    summer = datetime(2027, 7, 14, 8, 0, tzinfo=UTC)  # 10:00 CEST, a Wednesday
    minutes = dataclasses.replace(MINUTES, starts_at=summer, opened_at=summer)
    assert "- Termin: Mi 14.07.2027 10:00\n" in to_markdown(minutes)


def decision_line(markdown: str) -> str:
    lines = [line for line in markdown.splitlines() if re.match(r"\d+\. ", line)]
    assert len(lines) == 1, lines
    return lines[0].split(". ", 1)[1]


def assert_fully_escaped(content: str) -> None:
    """No markup character stands unescaped, and the content opens no block."""
    assert not re.match(r"[-+=>]|\d{1,9}[.)]", content), content
    index = 0
    while index < len(content):
        if content[index] == "\\":
            assert index + 1 < len(content), "dangling backslash"
            index += 2
            continue
        assert content[index] not in _MD_SPECIAL, (content, index)
        index += 1


@pytest.mark.parametrize(
    "text",
    [
        "*fett* und _kursiv_",
        "# Überschrift",
        "- keine Liste",
        "+ keine Liste",
        "> kein Zitat",
        "2) keine Liste",
        "=== keine Linie",
        "[Link](https://example.org) ![Bild](x.png)",
        "<script>alert(1)</script> &amp; &#35;",
        "`code` ``mehr``",
        "| a | b |",
        "Pfad C:\\Temp\\ und am Ende \\",
        "~~durch~~ $math$",
    ],
)
def test_markdown_escapes_markup_in_recorded_text(text: str) -> None:
    content = decision_line(to_markdown(with_decisions(text)))
    assert_fully_escaped(content)
    assert unescape(content) == text


def test_markdown_keeps_a_multi_line_text_on_its_line() -> None:
    markdown = to_markdown(with_decisions("erste Zeile\n# keine Überschrift\r\n\n- kein Punkt\t "))
    assert decision_line(markdown) == r"erste Zeile \# keine Überschrift - kein Punkt"
    assert len(markdown.splitlines()) == len(to_markdown(with_decisions("x")).splitlines())


# Printable text of any script; only a plain space as white space (runs collapse).
printable = st.text(
    alphabet=st.characters(exclude_categories=("Cc", "Cs", "Zl", "Zp", "Co", "Cn")),
    min_size=1,
    max_size=60,
).filter(lambda t: t.strip(" "))


@settings(max_examples=300, deadline=None)
@given(printable)
@example("\\*")
@example("1986. Jahrgang")
@example("- Liste")
@example("> Zitat")
@example("=")
@example("&ouml; <https://example.org>")
def test_markdown_escaping_round_trips(text: str) -> None:
    markdown = to_markdown(with_decisions(text))
    content = decision_line(markdown)
    assert_fully_escaped(content)
    assert unescape(content) == " ".join(part for part in text.split(" ") if part).strip()
    assert len(markdown.splitlines()) == len(to_markdown(with_decisions("x")).splitlines())


# --- JSON ----------------------------------------------------------------------------------

EXPECTED_JSON: dict[str, Any] = {
    "format": "fallkonferenz-protokoll",
    "version": 1,
    "language": "de",
    "termin": {
        "id": 12,
        "name": "Fallkonferenz Nord",
        "beginn": "2026-12-09T10:00:00+01:00",
        "eröffnet": "2026-12-09T10:02:00+01:00",
        "eröffnet_von": "@mod:example.org",
        "geschlossen": "2026-12-09T11:40:00+01:00",
        "quorum": 2,
    },
    "anwesenheit": [
        {
            "institution": JA,
            "anwesend": ["@ja1:example.org", "@ja_2:example.org"],
            "entschuldigt": False,
        },
        {"institution": JC, "anwesend": [], "entschuldigt": True},
        {"institution": KJH, "anwesend": ["@kjh_2:example.org"], "entschuldigt": False},
        {"institution": SCHULE, "anwesend": [], "entschuldigt": False},
    ],
    "beschlussfähig": True,
    "punkte": [
        {
            "nr": 1,
            "pseudonym": "FK-7QX2-M6",
            "thema": "Schulabsentismus",
            "angefragt_von": JA,
            "teilnehmende": [JA, SCHULE],
            "schutzauftrag_8a": True,
            "beschlüsse": list(DECISIONS_1),
            "lotse": "@lotse:example.org (Jugendamt Musterstadt)",
            "aufgaben": [
                {
                    "verantwortlich": "@ja1:example.org",
                    "institution": JA,
                    "text": "Termin mit Schule vereinbaren",
                    "fällig": "2026-12-15",
                },
                {
                    "verantwortlich": "@kjh_2:example.org",
                    "institution": KJH,
                    "text": "Angebot _Lerntherapie_ prüfen",
                    "fällig": None,
                },
            ],
            "wiedervorlage": "2027-01-13",
            "vertagt": None,
            "erledigt": False,
        },
        {
            "nr": 2,
            "pseudonym": "FK-9KP4-T1",
            "thema": "Übergang Schule–Beruf",
            "angefragt_von": JC,
            "teilnehmende": [JC, JA],
            "schutzauftrag_8a": False,
            "beschlüsse": [],
            "lotse": None,
            "aufgaben": [],
            "wiedervorlage": None,
            "vertagt": {"grund": "nicht behandelt", "auf": "Termin #13 am Mi 13.01.2027 10:00"},
            "erledigt": False,
        },
        {
            "nr": 3,
            "pseudonym": "FK-3MD8-A2",
            "thema": "Wohnsituation",
            "angefragt_von": JA,
            "teilnehmende": [JA],
            "schutzauftrag_8a": False,
            "beschlüsse": ["Hilfe beendet, Ziele erreicht"],
            "lotse": None,
            "aufgaben": [],
            "wiedervorlage": None,
            "vertagt": None,
            "erledigt": True,
        },
    ],
    "bestätigt": {"von": "@mod:example.org", "am": "2026-12-09T12:00:30.000250+01:00"},
}


def test_json_parses_back_to_exactly_the_recorded_values() -> None:
    assert json.loads(to_json(MINUTES)) == EXPECTED_JSON


def test_json_without_quorum_confirmation_or_close() -> None:
    value = json.loads(to_json(NO_QUORUM))
    assert value["beschlussfähig"] is False
    assert value["bestätigt"] is None
    assert value["termin"]["geschlossen"] is None
    assert value["anwesenheit"] == [
        {"institution": JA, "anwesend": ["@ja1:example.org"], "entschuldigt": False},
        {"institution": JC, "anwesend": [], "entschuldigt": True},
    ]


def test_json_schema_keys_are_stable() -> None:
    value = json.loads(to_json(MINUTES))
    assert set(value) == {
        "format",
        "version",
        "language",
        "termin",
        "anwesenheit",
        "beschlussfähig",
        "punkte",
        "bestätigt",
    }
    assert set(value["termin"]) == {
        "id",
        "name",
        "beginn",
        "eröffnet",
        "eröffnet_von",
        "geschlossen",
        "quorum",
    }
    item_keys = {
        "nr",
        "pseudonym",
        "thema",
        "angefragt_von",
        "teilnehmende",
        "schutzauftrag_8a",
        "beschlüsse",
        "lotse",
        "aufgaben",
        "wiedervorlage",
        "vertagt",
        "erledigt",
    }
    assert all(set(p) == item_keys for p in value["punkte"])
    tasks = [t for p in value["punkte"] for t in p["aufgaben"]]
    assert all(set(t) == {"verantwortlich", "institution", "text", "fällig"} for t in tasks)
    assert all(set(a) == {"institution", "anwesend", "entschuldigt"} for a in value["anwesenheit"])
    assert set(value["bestätigt"]) == {"von", "am"}


def test_json_instants_are_berlin_and_read_back_to_the_same_moments() -> None:
    summer = datetime(2027, 7, 14, 8, 0, tzinfo=UTC)
    for minutes, offset in (
        (MINUTES, "+01:00"),
        (dataclasses.replace(MINUTES, starts_at=summer), "+02:00"),
    ):
        termin = json.loads(to_json(minutes))["termin"]
        assert termin["beginn"].endswith(offset)
        assert datetime.fromisoformat(termin["beginn"]) == minutes.starts_at
        assert datetime.fromisoformat(termin["eröffnet"]) == minutes.opened_at
    confirmed = json.loads(to_json(MINUTES))["bestätigt"]["am"]
    assert datetime.fromisoformat(confirmed) == MINUTES.confirmed_at


def test_json_is_utf8_text_with_sorted_keys_and_indentation() -> None:
    text = to_json(MINUTES)
    assert "„zeitnah“" in text
    assert "Übergang" in text
    assert "\\u" not in text
    assert text.startswith('{\n  "anwesenheit": [\n')
    assert text.endswith("}\n")

    def check_sorted(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
        keys = [k for k, _ in pairs]
        assert keys == sorted(keys)
        return dict(pairs)

    json.loads(text, object_pairs_hook=check_sorted)


any_text = st.text(alphabet=st.characters(codec="utf-8"), max_size=40)


@settings(max_examples=100, deadline=None)
@given(decisions=st.lists(any_text, max_size=4), task_text=any_text, topic=any_text)
def test_json_keeps_any_text_unchanged(decisions: list[str], task_text: str, topic: str) -> None:
    task = dataclasses.replace(TASK_1, text=task_text)
    item = dataclasses.replace(ITEM_DECIDED, decisions=tuple(decisions), tasks=(task,), topic=topic)
    value = json.loads(to_json(dataclasses.replace(MINUTES, items=(item,))))
    assert value["punkte"][0]["beschlüsse"] == decisions
    assert value["punkte"][0]["aufgaben"][0]["text"] == task_text
    assert value["punkte"][0]["thema"] == topic


# --- PDF -------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def pdf() -> bytes:
    return to_pdf(MINUTES)


def test_pdf_shows_every_recorded_outcome(pdf: bytes) -> None:
    assert pdf.startswith(b"%PDF-")
    text = pdf_flat(pdf)
    expected = [
        "Protokoll Fallkonferenz Nord – Termin #12",
        "Termin: Mi 09.12.2026 10:00",
        "Jugendamt Musterstadt: @ja1:example.org, @ja_2:example.org",
        "Jobcenter Musterstadt: entschuldigt",
        "Kinder- & Jugendhilfe <Nord>: @kjh_2:example.org",
        "Schule am Park: nicht vertreten",
        "Beschlussfähigkeit: ja (2 von mindestens 2 Institutionen)",
        "Schutzauftrag nach § 8a SGB VIII",
        "Lotse: @lotse:example.org (Jugendamt Musterstadt)",
        "Termin mit Schule vereinbaren – bis 15.12.2026",
        "(Kinder- & Jugendhilfe <Nord>): Angebot _Lerntherapie_ prüfen",
        "Wiedervorlage: 13.01.2027",
        "Übergang Schule–Beruf",
        "Vertagt: nicht behandelt → Termin #13 am Mi 13.01.2027 10:00",
        "Fall erledigt",
        "Bestätigt von @mod:example.org am Mi 09.12.2026 12:00",
        "Seite 1 von 1",
    ]
    for item in MINUTES.items:
        expected.append(item.pseudonym)
        expected.extend(f"{n}. {d}" for n, d in enumerate(item.decisions, 1))
    missing = [e for e in expected if e not in text]
    assert not missing, (missing, text)


def test_pdf_shows_outcomes_in_order(pdf: bytes) -> None:
    text = pdf_flat(pdf)
    sequence = [
        "FK-7QX2-M6",
        *DECISIONS_1,
        "@lotse:example.org",
        TASK_1.text,
        TASK_2.text,
        "13.01.2027",
        "FK-9KP4-T1",
        "nicht behandelt",
        "FK-3MD8-A2",
        "Hilfe beendet",
        "Fall erledigt",
    ]
    positions = [text.find(s) for s in sequence]
    assert -1 not in positions
    assert positions == sorted(positions)


def test_pdf_metadata_names_the_session_only(pdf: bytes) -> None:
    reader = PdfReader(io.BytesIO(pdf))
    assert reader.metadata is not None
    assert reader.metadata.title == "Protokoll Fallkonferenz Nord – Termin #12"
    assert reader.metadata.subject == "Protokoll Termin #12"
    assert str(reader.root_object["/Lang"]) == "de-DE"


def test_pdf_escapes_markup_in_recorded_text(pdf: bytes) -> None:
    # reportlab's paragraph markup would have swallowed <b> and turned &amp; into &.
    text = pdf_flat(to_pdf(with_decisions("<b>fett</b> &amp; <font size=40>x</font> 5 < 6")))
    assert "1. <b>fett</b> &amp; <font size=40>x</font> 5 < 6" in text


FIXED_WORDING = """
Protokoll Termin Eröffnet von Geschlossen noch offen Anwesenheit entschuldigt nicht
vertreten Beschlussfähigkeit ja nein von mindestens Institution Institutionen
Tagesordnung TOP Thema Angefragt Teilnehmende keine Schutzauftrag nach § 8a SGB VIII
Beschlüsse Lotse Aufgaben bis Wiedervorlage Vertagt kein Fall erledigt Bestätigt am
Noch bestätigt Seite Mo Di Mi Do Fr Sa So
"""


def words(text: str) -> set[str]:
    return set(re.findall(r"\w+", text))


def recorded_words(minutes: Minutes) -> set[str]:
    """The wording of the template plus every string, date and time the value carries."""
    found = words(FIXED_WORDING)
    for text in all_strings(minutes):
        found |= words(text)
    for moment in (minutes.starts_at, minutes.opened_at, minutes.closed_at, minutes.confirmed_at):
        if moment is not None:
            found |= words(f"{moment.astimezone(BERLIN):%d.%m.%Y %H:%M}")
    for item in minutes.items:
        if item.carried_to is not None:
            found |= words(target_text(item.carried_to, GERMAN))
        days = [item.review, *(t.due for t in item.tasks)]
        found |= {w for d in days if d is not None for w in words(f"{d:%d.%m.%Y}")}
        found |= {str(n) for n in range(1, len(item.decisions) + 1)}
    found |= {str(n) for n in range(1, len(minutes.items) + 1)}
    found |= {str(minutes.session_id), str(minutes.quorum), str(minutes.institutions_present)}
    return found


@pytest.mark.parametrize("minutes", [MINUTES, NO_QUORUM], ids=["quorum", "no-quorum"])
def test_pdf_and_markdown_show_nothing_that_was_not_recorded(minutes: Minutes) -> None:
    allowed = recorded_words(minutes)
    pdf_words = words(pdf_flat(to_pdf(minutes)))
    assert pdf_words - allowed == set()
    assert words(unescape(to_markdown(minutes))) - allowed == set()
    pseudonyms = {i.pseudonym for i in minutes.items}
    assert set(PSEUDONYM.findall(pdf_flat(to_pdf(minutes)))) == pseudonyms
    staff = {s for s in all_strings(minutes) for s in MATRIX_ID.findall(s)}
    assert set(MATRIX_ID.findall(pdf_flat(to_pdf(minutes)))) <= staff


def test_a_replaced_decision_is_gone_from_every_export() -> None:
    before = with_decisions("Familienrat einberufen", "Zuständigkeit klären")
    after = with_decisions("Zuständigkeit klären")
    assert "Familienrat" in pdf_flat(to_pdf(before))
    for rendered in (pdf_flat(to_pdf(after)), to_markdown(after), to_json(after)):
        assert "Familienrat" not in rendered
        assert "Zuständigkeit klären" in rendered
    # The vocabulary check above would have caught it too.
    assert "Familienrat" in words(pdf_flat(to_pdf(before))) - recorded_words(after)


def test_pdf_page_numbers_on_every_page() -> None:
    items = tuple(
        dataclasses.replace(ITEM_DECIDED, pseudonym=f"FK-{n:04d}-A{n % 10}") for n in range(14)
    )
    data = to_pdf(dataclasses.replace(MINUTES, items=items))
    pages = pdf_text(data)
    assert len(pages) > 1
    for number, page in enumerate(pages, 1):
        assert f"Seite {number} von {len(pages)}" in page
    flat = one_line(" ".join(pages))
    assert [m for m in PSEUDONYM.findall(flat)] == [i.pseudonym for i in items]


def test_pdf_survives_characters_outside_its_fonts() -> None:
    data = to_pdf(with_decisions("Łódź 😀 ≥ 3 Termine"))
    assert "≥ 3 Termine" in pdf_flat(data)


# --- determinism and file names ------------------------------------------------------------


def test_two_renderings_are_byte_identical(pdf: bytes) -> None:
    assert to_markdown(MINUTES) == to_markdown(MINUTES)
    assert to_json(MINUTES) == to_json(MINUTES)
    assert to_pdf(MINUTES) == pdf
    assert to_pdf(NO_QUORUM) != pdf


@pytest.mark.parametrize(
    ("starts_at", "ext", "name"),
    [
        (STARTS, "md", "protokoll-termin-12-2026-12-09.md"),
        (STARTS, ".pdf", "protokoll-termin-12-2026-12-09.pdf"),
        (STARTS, "JSON", "protokoll-termin-12-2026-12-09.json"),
        # 23:30 UTC is already the next day in Berlin.
        (datetime(2026, 12, 9, 23, 30, tzinfo=UTC), "md", "protokoll-termin-12-2026-12-10.md"),
    ],
)
def test_file_name(starts_at: datetime, ext: str, name: str) -> None:
    assert file_name(dataclasses.replace(MINUTES, starts_at=starts_at), ext) == name


@pytest.mark.parametrize("ext", ["", "../x", "md/../../etc", "pdf ", "a.b"])
def test_file_name_refuses_odd_extensions(ext: str) -> None:
    with pytest.raises(ValueError, match="Dateiendung"):
        file_name(MINUTES, ext)


def test_naive_times_are_refused() -> None:
    naive = dataclasses.replace(MINUTES, starts_at=datetime(2026, 12, 9, 10, 0))
    for render in (to_markdown, to_json, to_pdf):
        with pytest.raises(ValueError, match="Zeitzone"):
            render(naive)
