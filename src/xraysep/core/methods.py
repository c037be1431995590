"""The separation methods by name, and what each one trains before combine builds its model.

``paper`` is the published method (two orderings of the two-branch network, the combined
pair of slot 1s); ``consistent`` trains the same two orderings and combines them so that the
pair explains the mixture (``core.consistent``); ``shared`` is one colour-to-absorption map
for both sides (``core.shared``); ``linear`` and ``half`` are baselines (``core.baselines``)
that combine fits directly, with nothing to train.
"""

from __future__ import annotations

from xraysep.core.combined import ORDERS
from xraysep.errors import InputError

SHARED = "shared"

TRAINS: dict[str, tuple[str, ...]] = {
    "shared": (SHARED,),
    "consistent": ORDERS,
    "paper": ORDERS,
    "linear": (),
    "half": (),
}
METHODS = tuple(TRAINS)


def check_method(method: str) -> str:
    if method not in TRAINS:
        raise InputError(f"method {method!r}: unknown; choose one of {', '.join(METHODS)}")
    return method
