"""`python3 -m pyactors.demo`, the main job: its code is `pyactors.tools.demo`."""

from pyactors.tools.demo import main, run

__all__ = ["main", "run"]

if __name__ == "__main__":
    raise SystemExit(main())
