"""The master: its state machine and collaborators, the offer book, the
registry, and the Ray actor that drives them."""
