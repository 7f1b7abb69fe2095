"""Values every process shares: resources' allocator facade, offers,
operations, task states, quota arguments."""
