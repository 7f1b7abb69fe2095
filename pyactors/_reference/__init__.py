"""Pure-Python twins of the Rust core, kept readable as its executable specification."""
