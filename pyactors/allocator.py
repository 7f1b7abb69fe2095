"""The documented import path of the allocator facade (`pyactors.core.allocator`)
and of its pure-Python twin, the executable specification and test oracle
(`pyactors._reference.allocator`). Only this re-export joins the two:
production code never imports the oracle."""

from pyactors._reference.allocator import ReferenceAllocator
from pyactors.core.allocator import Allocator

__all__ = ["Allocator", "ReferenceAllocator"]
