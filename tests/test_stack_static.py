"""``make run`` collects the static files only when they changed (``scripts/stack.py``'s ``static_collect``).

Found by a fault walk: after the embedded PostgreSQL or Redis died, the next ``make run`` took 90 to 100 s to answer
again on a loaded two-core machine, 60 s of it in ``collectstatic`` compressing the same files again."""

from __future__ import annotations

from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def stack(stack, tmp_path, monkeypatch):
    """``scripts/stack.py`` as a module on a project of the test's own (a static folder, requirements, settings)."""
    module = stack
    project = tmp_path / "project"
    (project / "static" / "css").mkdir(parents=True)
    (project / "static" / "css" / "site.css").write_text("body {}")
    (project / "kyc" / "static").mkdir(parents=True)
    (project / "kyc" / "static" / "kyc.js").write_text("1")
    (project / "config").mkdir()
    (project / "config" / "settings.py").write_text("STATIC = 1")
    (project / "requirements.txt").write_text("django==5.2\n")
    monkeypatch.setattr(module, "ROOT", project)
    module.calls = []

    def run(cmd, env):
        module.calls.append(cmd)
        (Path(env["EXCHANGE_DATA_DIR"]) / "staticfiles").mkdir(parents=True, exist_ok=True)
        return module.exit_status

    module.exit_status = 0
    monkeypatch.setattr(module, "run", run)
    module.env = {"EXCHANGE_DATA_DIR": str(tmp_path / "data")}
    module.project = project
    return module


def test_a_second_start_with_nothing_changed_does_not_collect_again(stack):
    # given a first start that collected the static files
    assert stack.static_collect(stack.env, ["manage.py"]) is True
    assert len(stack.calls) == 1 and stack.calls[0][1:] == ["collectstatic", "--noinput", "-v", "0"]
    # when the exchange starts again with nothing changed
    assert stack.static_collect(stack.env, ["manage.py"]) is True
    # then collectstatic does not run again
    assert len(stack.calls) == 1


@pytest.mark.parametrize(
    "change",
    [
        lambda p: (p / "static" / "css" / "site.css").write_text("body { color: red }"),
        lambda p: (p / "kyc" / "static" / "new.js").write_text("2"),
        lambda p: (p / "kyc" / "static" / "kyc.js").unlink(),
        lambda p: (p / "requirements.txt").write_text("django==5.3\n"),
        lambda p: (p / "config" / "settings.py").write_text("STATIC = 2"),
    ],
    ids=["file changed", "file added", "file removed", "requirements", "settings"],
)
def test_a_start_after_a_change_collects_again(stack, change):
    # given a start that collected the static files
    assert stack.static_collect(stack.env, ["manage.py"]) is True
    # when a static file, the requirements or the settings change
    change(stack.project)
    assert stack.static_collect(stack.env, ["manage.py"]) is True
    # then the files are collected again
    assert len(stack.calls) == 2


def test_a_failed_collection_is_run_again_at_the_next_start(stack):
    # given a collection that failed
    stack.exit_status = 1
    assert stack.static_collect(stack.env, ["manage.py"]) is False
    # when the next start finds nothing changed
    stack.exit_status = 0
    assert stack.static_collect(stack.env, ["manage.py"]) is True
    # then it collects again (nothing marked the failed run as done)
    assert len(stack.calls) == 2
