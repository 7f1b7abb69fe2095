"""pyactors' version: what masters publish as theirs and the OpenAPI
document states (the package's `__version__` too)."""

VERSION = "0.1.0"
