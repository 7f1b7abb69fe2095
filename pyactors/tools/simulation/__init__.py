"""The simulated cluster behind `python -m pyactors.simulate` (the command
line is `pyactors.tools.simulate`): `cluster` runs the real allocator in
simulated time, `workloads` are its toy frameworks, `summary` what a run
produced as plain data, `report` that data as text."""
