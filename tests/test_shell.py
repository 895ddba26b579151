"""`servicecoach shell`: a learner in the terminal on the real engine, on its own database."""

import json
import os
import sqlite3
from pathlib import Path

from tests.process_support import run_servicecoach

BODY = " ".join(["Count the rings before you answer the phone, and smile as you pick up."] * 6)
NUMBER_PACK = f"""\
id: counting
title: Counting
version: "1"
language: en
audience: Testers
description: One lesson with a button question and a number question.
topics:
  phone: Phone manner
lessons:
  - id: rings
    title: Rings
    topic: phone
    order: 1
    body: {BODY}
    quiz:
      - id: rings-pick
        type: single
        prompt: Pick up quickly?
        choices:
          - text: "Yes"
            correct: true
          - text: "No"
            feedback: Callers wait.
        explanation: Quick pickup shows care.
      - id: rings-count
        type: numeric
        prompt: How many rings at most?
        answer: 3
        explanation: Three rings is the usual promise.
"""


def _rows(path: Path, query: str) -> list[tuple]:
    """Rows of a query on a SQLite file."""
    with sqlite3.connect(path) as connection:
        return connection.execute(query).fetchall()


def test_a_scripted_session_uses_its_own_database_and_waits_for_the_reflection(tmp_path):
    live, data = tmp_path / "live.db", tmp_path / "data"
    env = {**os.environ, "DATABASE_URL": f"sqlite+aiosqlite:///{live}", "XDG_DATA_HOME": str(data)}
    script = "\n1\n2\n\nI would walk them to the right desk.\nquit\n"
    result = run_servicecoach(
        "shell", "--fast", "--learner", "sam", input=script, env=env, cwd=tmp_path
    )
    assert result.returncode == 0, result.stderr
    out = result.stdout
    own = data / "servicecoach" / "shell.db"
    assert out.startswith(f"Shell database: {own} (the shell's own; DATABASE_URL is not used)\n")
    assert not live.exists()  # DATABASE_URL names the live database: never touched
    assert "Every working day at 09:00 (Europe/London)" in out  # no *09:00* markers
    assert "Still open: the reflection. Answer, or type next to skip." in out
    saved = out.index("📝 Thanks, your reflection is saved.")
    assert 'What "selling" means in public service' in out[saved:]  # the day moved on after
    assert _rows(own, "SELECT name, platform FROM person") == [("sam", "console")]
    assert _rows(own, "SELECT count(*) FROM response") == [(2,)]
    assert _rows(own, "SELECT sum(answers) FROM calibration") == [(2,)]  # written as it ended
    assert _rows(own, "SELECT text FROM reflection") == [("I would walk them to the right desk.",)]


def test_a_database_with_other_people_is_refused_and_left_as_it_was(cli, database, database_url):
    roster = Path("staff.csv")
    roster.write_text("name,platform,platform_id,team\nAna Lima,slack,U0ANA,housing\n")
    assert cli("roster", "import", str(roster)).exit_code == 0
    before = json.loads(cli("deliveries", "--json").stdout)
    result = cli("shell", "--db", database_url, input="next\n1\nquit\n")
    assert result.exit_code == 1 and result.stdout == ""
    assert result.stderr.startswith("error: ") and result.stderr.count("\n") == 1
    assert "holds people the shell did not create (such as 'Ana Lima')" in result.stderr
    assert json.loads(cli("deliveries", "--json").stdout) == before
    assert [row["name"] for row in json.loads(cli("report", "--json").stdout)["learners"]] == [
        "Ana Lima"
    ]


def test_a_number_answers_the_number_question_while_a_button_question_is_open(cli, database):
    pack = Path("counting.yaml")
    pack.write_text(NUMBER_PACK)
    assert cli("packs", "load", str(pack)).exit_code == 0
    typed = "\n3\na\n/progress\nquit\n"
    result = cli("shell", "--db", os.environ["DATABASE_URL"], "--fast", input=typed)
    assert result.exit_code == 0, result.stderr
    assert "No unanswered question has that button" not in result.stdout
    assert result.stdout.index("Three rings") < result.stdout.index("Quick pickup shows care.")
    assert "Accuracy by topic:\n• Phone manner: 2/2 (100%)\n" in result.stdout  # not `phone`


def test_next_says_what_it_skips_and_an_empty_line_only_moves_on_when_nothing_is_open(cli):
    result = cli("shell", "--fast", input="\n\nnext\nquit\n")
    assert result.exit_code == 0, result.stderr
    out = result.stdout
    assert "Still open: 2 questions and the reflection. Answer, or type next to skip." in out
    assert "Skipped, unanswered: 2 questions and the reflection." in out
    assert out.count("📘") == 2


def test_answering_a_quiz_shows_feedback(cli):
    presses = "".join(f"{n}\n" for n in range(1, 7))
    result = cli("shell", "--learner", "sam", input=f"next\n{presses}/progress\nquit\n")
    assert result.exit_code == 0, result.stderr
    out = result.stdout
    assert "Welcome, sam!" in out and "📘" in out and "❓" in out
    assert "✅ Right" in out or "❌ Not quite." in out
    assert "Streak:" in out and "Accuracy by topic:" in out


def test_end_of_input_ends_cleanly_and_the_learner_is_kept(cli, tmp_path):
    mine = tmp_path / "mine.db"
    first = cli("shell", "--db", str(mine), input="9\nhello there\n")
    assert first.exit_code == 0, first.stderr
    assert first.stdout.startswith(f"Shell database: {mine} (--db)\n")
    assert "No unanswered question has that button" in first.stdout
    again = cli("shell", "--db", str(mine), input="quit\n")
    assert again.exit_code == 0 and again.stdout.count("Welcome, you!") == 0
    assert _rows(mine, "SELECT person.name, team.name FROM person JOIN team") == [("you", "shell")]
