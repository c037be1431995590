"""The separation methods by name: the one place the jobs learn what methods exist.

Each method lives in its own module (``shared/``, ``paper/``, ``cae/``, ``lista/``,
``baselines.py``) and exposes one :class:`~xraysep.core.methods.base.Method`; ``REGISTRY``
lists them. ``xraysep methods`` prints it.
"""

from __future__ import annotations

from torch import nn

from xraysep.core.methods.base import Method
from xraysep.core.methods.baselines import HALF, LINEAR
from xraysep.core.methods.cae import CAE
from xraysep.core.methods.lista import LISTA
from xraysep.core.methods.paper import CONSISTENT, PAPER
from xraysep.core.methods.shared import SHARED
from xraysep.errors import InputError

REGISTRY: dict[str, Method] = {
    m.name: m for m in (SHARED, CONSISTENT, PAPER, CAE, LISTA, LINEAR, HALF)
}
METHODS = tuple(REGISTRY)
# every model class a model file can hold, by the kind the file records
MODELS: dict[str, type[nn.Module]] = {
    model.KIND: model
    for method in REGISTRY.values()
    for model in (method.network, method.separator)
    if model is not None
}
# the kinds that separate a panel: the models combine makes
SEPARATORS = tuple(dict.fromkeys(method.separator.KIND for method in REGISTRY.values()))


def method(name: str) -> Method:
    """The method called ``name``, or a one-line error listing them."""
    if name not in REGISTRY:
        raise InputError(f"method {name!r}: unknown; choose one of {', '.join(METHODS)}")
    return REGISTRY[name]


def trainer(key: str) -> Method:
    """The method whose recipe builds the trained network ``key`` (``12``, ``21``,
    ``shared``, ``cae``, ``lista``): the first that trains it (methods that share a network
    share its recipe)."""
    for entry in REGISTRY.values():
        if key in entry.trains and entry.recipe is not None:
            return entry
    raise InputError(f"network {key!r}: no method trains it")
