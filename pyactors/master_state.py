"""The documented import path of the master's configuration (`pyactors.master.state`)."""

from pyactors.master.state import MasterConfig

__all__ = ["MasterConfig"]
