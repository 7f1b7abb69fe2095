"""The `pyactors` command run in-process (click's runner)."""

from __future__ import annotations

from click.testing import CliRunner, Result

from pyactors.cli import main


def cli(*args: str, master: str | None = None, code: int = 0) -> Result:
    """Runs `pyactors ARGS` with PYACTORS_MASTER set to `master` (or unset)
    and checks its exit code."""
    result = CliRunner().invoke(main, list(args), env={"PYACTORS_MASTER": master})
    assert result.exit_code == code, (args, result.output, result.stderr, result.exception)
    return result
