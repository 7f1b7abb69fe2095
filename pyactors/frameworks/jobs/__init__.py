"""Chronos/Metronome-style scheduled jobs."""
