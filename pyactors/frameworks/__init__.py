"""Frameworks that ship with pyactors, built on the public Scheduler API."""
