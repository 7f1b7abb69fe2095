"""Batch tasks with delay scheduling."""
