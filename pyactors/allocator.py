"""The documented import path of the allocator facade (`pyactors.core.allocator`)
and of its pure-Python twin, the executable specification (`pyactors._reference`)."""

from pyactors._reference.allocator import ReferenceAllocator
from pyactors.core.allocator import Allocator

__all__ = ["Allocator", "ReferenceAllocator"]
