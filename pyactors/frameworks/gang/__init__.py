"""All-or-nothing gangs."""
