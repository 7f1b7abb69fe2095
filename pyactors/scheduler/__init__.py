"""The framework side: the Scheduler/Driver API, the framework actor, the framework pool."""
