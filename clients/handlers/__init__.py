"""Client handlers of unlearning methods, one module per method.

A module here defines ``register(app)``, which adds its handlers to the ClientApp, for example
``@app.train("fucrt")`` for messages of type ``train.fucrt``. Every module is registered by
:func:`register_all`, so a new method's client side needs no edit elsewhere.
"""

from __future__ import annotations

import importlib
import pkgutil


def register_all(app) -> list[str]:
    """Register every handler module's handlers on ``app``; returns the module names."""
    names = []
    for module in pkgutil.iter_modules(__path__):
        importlib.import_module(f"{__name__}.{module.name}").register(app)
        names.append(module.name)
    return names
