"""`python3 -m pyactors.simulate`, the simulated cluster: its code is `pyactors.tools.simulate`."""

from pyactors.tools.simulate import main
from pyactors.tools.simulation.cluster import run

__all__ = ["main", "run"]

if __name__ == "__main__":
    raise SystemExit(main())
