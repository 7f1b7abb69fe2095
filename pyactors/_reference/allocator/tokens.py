"""Registration tokens: what `recover_many_by_token` names frameworks and
agents by.

A token is a registration's serial (never 0) above its slot, numbered as
the Rust core numbers them (slots reused last freed first, one serial
counter for agents and frameworks) so that both implementations hand out
the same tokens for the same history of calls. A token outlives its
registration only as a number that names nothing."""

from __future__ import annotations

SLOT_BITS = 32
_SERIAL_WRAP = 1 << 32


class Serials:
    """The serials registrations take, 1 upwards, wrapping past 0."""

    def __init__(self) -> None:
        self._next = 1

    def take(self) -> int:
        serial = self._next
        self._next = max((self._next + 1) % _SERIAL_WRAP, 1)
        return serial


class TokenBook:
    """The slots and serials of one kind of registration (agents or
    frameworks)."""

    def __init__(self, serials: Serials) -> None:
        self._serials = serials
        self._slot_of: dict[str, int] = {}
        self._held: dict[int, tuple[int, str]] = {}  # slot -> (serial, id)
        self._free: list[int] = []
        self._slots = 0

    def register(self, registered_id: str) -> None:
        if self._free:
            slot = self._free.pop()
        else:
            slot, self._slots = self._slots, self._slots + 1
        self._held[slot] = (self._serials.take(), registered_id)
        self._slot_of[registered_id] = slot

    def unregister(self, registered_id: str) -> None:
        slot = self._slot_of.pop(registered_id)
        del self._held[slot]
        self._free.append(slot)

    def token(self, registered_id: str) -> int:
        slot = self._slot_of[registered_id]
        return (self._held[slot][0] << SLOT_BITS) | slot

    def id_of(self, token: int) -> str | None:
        """The id the token names, None once its registration ended."""
        held = self._held.get(token & (_SERIAL_WRAP - 1))
        if held is None or held[0] != token >> SLOT_BITS:
            return None
        return held[1]
