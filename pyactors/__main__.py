"""`python3 -m pyactors`: the `pyactors` command (`pyactors.cli`)."""

from pyactors.cli import main

if __name__ == "__main__":
    main(prog_name="pyactors")
