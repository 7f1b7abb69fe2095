"""Programs on pymesos (0.3.15, installed by the test command) that the
runtime tests run as their own processes against a real cluster."""
