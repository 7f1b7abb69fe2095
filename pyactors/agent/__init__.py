"""The agent: its state machine, task processes in sandboxes, health checks,
volumes, reliable status updates, the actor and the emulated pool."""
