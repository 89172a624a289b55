"""A reply is built once and rendered twice: a plain body and escaped HTML."""

from __future__ import annotations

from commands.reply import Doc, Reply, Span, b, code, i


def test_plain_text_paragraph() -> None:
    reply = Reply.text("pong 🏓")
    assert reply.plain == "pong 🏓"
    assert reply.html == "<p>pong 🏓</p>"
    assert reply.notice is True


def test_markup_spans_render_as_tags_in_html_and_stay_bare_in_plain() -> None:
    reply = Reply.text(b("fett"), " und ", i("kursiv"))
    assert reply.plain == "fett und kursiv"
    assert reply.html == "<p><b>fett</b> und <i>kursiv</i></p>"


def test_code_span_gets_backticks_in_plain() -> None:
    reply = Reply.text("Aufruf: ", code("!fk zahl <anzahl>"))
    assert reply.plain == "Aufruf: `!fk zahl <anzahl>`"
    assert reply.html == "<p>Aufruf: <code>!fk zahl &lt;anzahl&gt;</code></p>"


def test_ampersand_and_angle_brackets_are_escaped_in_html_only() -> None:
    text = "Jugendamt & Jobcenter <script>alert(1)</script> a>b"
    reply = Reply.text(text)
    assert reply.plain == text
    assert reply.html == (
        "<p>Jugendamt &amp; Jobcenter &lt;script&gt;alert(1)&lt;/script&gt; a&gt;b</p>"
    )
    assert "<script>" not in reply.html


def test_text_inside_markup_spans_is_escaped_too() -> None:
    for span in (b("<i>x</i> & y"), i("<i>x</i> & y"), code("<i>x</i> & y")):
        assert span.html() == f"<{span.tag}>&lt;i&gt;x&lt;/i&gt; &amp; y</{span.tag}>"
        assert "<i>x" not in span.html()


def test_already_escaped_text_is_escaped_again() -> None:
    assert Span("&lt;").html() == "&amp;lt;"


def test_paragraphs_are_separated_by_a_blank_line_in_plain() -> None:
    reply = Doc().para("eins").para("zwei").build()
    assert reply.plain == "eins\n\nzwei"
    assert reply.html == "<p>eins</p><p>zwei</p>"


def test_bullet_list() -> None:
    reply = (
        Doc()
        .para(b("Befehle"))
        .items([(code("!fk ping"), " — ", "Prüft <alles>"), ("zweitens",)])
        .build()
    )
    assert reply.plain == "Befehle\n\n• `!fk ping` — Prüft <alles>\n• zweitens"
    assert reply.html == (
        "<p><b>Befehle</b></p>"
        "<ul><li><code>!fk ping</code> — Prüft &lt;alles&gt;</li><li>zweitens</li></ul>"
    )


def test_empty_list_adds_nothing() -> None:
    reply = Doc().para("nur das").items([]).build()
    assert reply.plain == "nur das"
    assert reply.html == "<p>nur das</p>"


def test_message_instead_of_notice() -> None:
    reply = Doc().para("hallo").build(notice=False)
    assert reply.notice is False


def test_empty_doc() -> None:
    assert Doc().build() == Reply("", "", True)
