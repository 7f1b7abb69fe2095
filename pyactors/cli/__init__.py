"""The `pyactors` command: `main` is the click group, with the built-in
frameworks' `app` and `job` commands added to it here (they do not import
`main`, so the command modules depend on `common` only)."""

from pyactors.cli.frameworks import app, job
from pyactors.cli.main import main

main.add_command(app)
main.add_command(job)

__all__ = ["main"]
