"""The roster benchmark's baseline: any git ref of the repository, checked out for the run only."""

from __future__ import annotations

import subprocess
from pathlib import Path

from benchmarks.roster import checkout


def _git(repo: Path, *args: str) -> str:
    """Run git in `repo`; its output."""
    command = ["git", "-C", str(repo), "-c", "user.name=t", "-c", "user.email=t@example.org"]
    return subprocess.run([*command, *args], check=True, capture_output=True, text=True).stdout


def _repository(path: Path) -> Path:
    """A repository whose file says `old` at HEAD~1 and `new` at HEAD."""
    path.mkdir()
    _git(path, "init", "--quiet")
    for text in ("old", "new"):
        (path / "code.py").write_text(text)
        _git(path, "add", "code.py")
        _git(path, "commit", "--quiet", "-m", text)
    return path


def test_a_git_ref_is_checked_out_for_the_run_and_removed_afterwards(tmp_path: Path):
    repo = _repository(tmp_path / "repo")
    scratch = tmp_path / "scratch"
    scratch.mkdir()

    with checkout("HEAD~1", folder=scratch, repo=repo) as code:
        assert (code / "code.py").read_text() == "old"
        assert str(code) in _git(repo, "worktree", "list")

    assert not code.exists()
    assert str(code) not in _git(repo, "worktree", "list")
    assert (repo / "code.py").read_text() == "new"


def test_a_directory_is_used_as_it_is(tmp_path: Path):
    with checkout(str(tmp_path), folder=tmp_path / "unused") as code:
        assert code == tmp_path.resolve()
    assert tmp_path.exists()
