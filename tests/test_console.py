"""The console renders the Markdown subset of packs and messages as terminal styling."""

import pytest

from bot.messages import Choice, Outbound, OutboundKind
from bot.transports.console import ConsoleTransport, markdown_text, plain_text, print_styled

WELCOME = "Every working day at *09:00* I'll write.\n\n- Write *pause until 2027-01-03*.\n"
FEEDBACK = "✅ *Right*\nThey leave with **nothing**.\n_Why:_ use `progress` in America/New_York"


def _styled(text: str) -> list[tuple[str, str]]:
    """(style, text) of every styled span."""
    rendered = markdown_text(text)
    return [(str(span.style), rendered.plain[span.start : span.end]) for span in rendered.spans]


def test_bold_italic_code_and_list_items_become_styles_without_markers():
    assert plain_text(WELCOME) == (
        "Every working day at 09:00 I'll write.\n\n• Write pause until 2027-01-03.\n"
    )
    assert _styled(WELCOME) == [("bold", "09:00"), ("bold", "pause until 2027-01-03")]
    assert plain_text(FEEDBACK) == (
        "✅ Right\nThey leave with nothing.\nWhy: use progress in America/New_York"
    )
    assert _styled(FEEDBACK) == [
        ("bold", "Right"),
        ("bold", "nothing"),
        ("italic", "Why:"),
        ("cyan", "progress"),
    ]


def test_text_that_only_looks_like_markers_is_left_alone():
    for text in ("2 * 3 * 4", "snake_case_name", "a * b", "*not closed", "1. first\n2. second"):
        assert plain_text(text) == text and _styled(text) == []
    assert _styled("*bold _and italic_ here*") == [
        ("bold", "bold "),
        ("bold italic", "and italic"),
        ("bold", " here"),
    ]


async def test_the_console_transport_prints_chat_text_not_markers(
    capsys: pytest.CaptureFixture[str],
):
    transport = ConsoleTransport(write=print_styled)
    message = Outbound(OutboundKind.FEEDBACK, FEEDBACK, (Choice("a", "Ok"),))
    await transport.send("console:sam", message)
    assert capsys.readouterr().out == (
        "→ console:sam\n✅ Right\nThey leave with nothing.\n"
        "Why: use progress in America/New_York\n  [1] Ok\n"
    )


def test_a_terminal_gets_bold_and_italic(monkeypatch: pytest.MonkeyPatch, capsys):
    monkeypatch.setenv("FORCE_COLOR", "1")
    monkeypatch.delenv("NO_COLOR", raising=False)
    print_styled(markdown_text(FEEDBACK))
    out = capsys.readouterr().out
    assert "\x1b[1mRight\x1b[0m" in out and "\x1b[3mWhy:\x1b[0m" in out and "*" not in out
