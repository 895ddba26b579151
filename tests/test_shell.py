"""`servicecoach shell`: a learner in the terminal on the real engine."""

import json


def test_answering_a_quiz_shows_feedback(cli, database):
    presses = "".join(f"{n}\n" for n in range(1, 7))
    result = cli("shell", "--learner", "sam", input=f"next\n{presses}/progress\nquit\n")
    assert result.exit_code == 0, result.stderr
    out = result.stdout
    assert "Welcome, sam!" in out and "📘" in out and "❓" in out
    assert "✅ *Right*" in out or "❌ *Not quite.*" in out
    assert "Streak:" in out and "Accuracy by topic:" in out


def test_end_of_input_ends_cleanly_and_the_learner_is_kept(cli, database):
    first = cli("shell", input="9\nhello there\n")
    assert first.exit_code == 0, first.stderr
    assert "No unanswered question has that button" in first.stdout
    again = cli("shell", input="quit\n")
    assert again.exit_code == 0 and again.stdout.count("Welcome, you!") == 0
    learners = json.loads(cli("report", "--json").stdout)["learners"]
    assert [row["name"] for row in learners] == ["you"]


def test_fast_mode_moves_on_once_everything_is_answered(cli, database):
    typed = "\n".join(["1", "2", "3", "4", "5", "6"] * 4)
    result = cli("shell", "--fast", input=f"next\n{typed}\nquit\n")
    assert result.exit_code == 0, result.stderr
    lessons = result.stdout.count("📘")
    assert lessons >= 2  # answering everything brought the next day's lesson without `next`
