"""Unlearning methods, server side, registered by name.

A method is one file in this package defining a subclass of :class:`UnlearningMethod` decorated
with :func:`register`; every module here is imported on first use, so a new method needs no edit
anywhere else. A method whose clients do something other than plain local training adds its client
handler as one file in ``clients/handlers/``.
"""

from __future__ import annotations

import importlib
import pkgutil

from .base import UnlearningMethod

METHODS: dict[str, type[UnlearningMethod]] = {}


def register(cls: type[UnlearningMethod]) -> type[UnlearningMethod]:
    """Class decorator: make ``cls`` available under ``cls.name``."""
    if cls.name in METHODS:
        raise ValueError(f"two unlearning methods are named {cls.name!r}")
    METHODS[cls.name] = cls
    return cls


def _discover() -> None:
    for module in pkgutil.iter_modules(__path__):
        if module.name != "base":
            importlib.import_module(f"{__name__}.{module.name}")


def available() -> dict[str, frozenset[str]]:
    """Method name -> request kinds it supports, for every registered method (and ``retrain``)."""
    if not METHODS:
        _discover()
    names = {name: cls.request_kinds for name, cls in METHODS.items()}
    names["retrain"] = frozenset({"class", "client", "sample", "sequential"})
    return names


def get(name: str) -> type[UnlearningMethod]:
    available()
    return METHODS[name]
