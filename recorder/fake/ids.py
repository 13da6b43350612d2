"""Random-looking ids of the shapes the Realtime API uses, drawn from a seeded RNG.

Real ids are a prefix and 21 base62 characters (event_C9G5RJeJ2gF77mV7f2B1j,
item_CCXHwGjjDUfOXbiySlK7i, resp_..., sess_..., conv_...); call ids are call_ and 16. Drawing
them from the scenario's own random.Random keeps a scenario byte-for-byte reproducible.
"""

from __future__ import annotations

import random
import string

_ALPHABET = string.ascii_letters + string.digits
_BODY = 21


class Ids:
    """Mints ids of each kind from one seeded random.Random."""

    def __init__(self, rng: random.Random) -> None:
        self._rng = rng

    def _make(self, prefix: str, length: int = _BODY) -> str:
        return prefix + "".join(self._rng.choices(_ALPHABET, k=length))

    def event(self) -> str:
        """A server event id."""
        return self._make("event_")

    def client_event(self) -> str:
        """A client-chosen event id, as the JavaScript clients make them."""
        return self._make("evt_")

    def item(self) -> str:
        return self._make("item_")

    def response(self) -> str:
        return self._make("resp_")

    def session(self) -> str:
        return self._make("sess_")

    def conversation(self) -> str:
        return self._make("conv_")

    def call(self) -> str:
        return self._make("call_", 16)

    def obfuscation(self) -> str:
        """The padding string the live GA service adds to some deltas."""
        return "".join(self._rng.choices(_ALPHABET, k=self._rng.randint(4, 14)))
