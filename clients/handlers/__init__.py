"""Client handlers of unlearning methods, one module per method.

A module here defines ``register(app)``, which adds its handlers to the ClientApp, for example
``@app.train("fucrt")`` for messages of type ``train.fucrt``. Every module is registered by
:func:`register_all`, so a new method's client side needs no edit elsewhere. A method from another
installed package adds its ``register(app)`` function under the entry point group ``fedunlearn.handlers``.
A handler may import the library (``fedunlearn.algorithms`` for its method's computation) and ``..job``, never
``fedunlearn.strategies``.
"""

from __future__ import annotations

import importlib
import pkgutil
from importlib.metadata import entry_points

ENTRY_POINTS = "fedunlearn.handlers"


def register_all(app) -> list[str]:
    """Register every handler module's and every plugin's handlers on ``app``; returns their names."""
    names = []
    for module in pkgutil.iter_modules(__path__):
        importlib.import_module(f"{__name__}.{module.name}").register(app)
        names.append(module.name)
    for entry in entry_points(group=ENTRY_POINTS):
        entry.load()(app)
        names.append(f"{entry.name} ({entry.dist.name if entry.dist else entry.value})")
    return names
