"""Unlearning methods, server side, registered by name.

A built-in method is one file in this package defining a subclass of :class:`UnlearningMethod` decorated
with :func:`register`; every module here is imported on first use, so a new method needs no edit anywhere
else. A method living in another installed package registers through the entry point group
``fedunlearn.methods`` (the entry point names its class) and then works everywhere a built-in does; its
client handler, if its clients do more than plain training, goes in the group ``fedunlearn.handlers``
(``clients/handlers/__init__.py``). Two methods of one name, built-in or not, are an error naming both
packages. A method's server half may import the library (``fedunlearn.algorithms`` for its computation) and the
server's own modules (``..fedavg``, ``..session``), never ``fedunlearn.clients``.
"""

from __future__ import annotations

import importlib
import pkgutil
from dataclasses import dataclass
from importlib.metadata import entry_points

from fedunlearn.config import add_method_keys
from fedunlearn.errors import ConfigError

from .base import UnlearningMethod

ENTRY_POINTS = "fedunlearn.methods"
BUILT_IN = "fedunlearn (built-in)"
METHODS: dict[str, type[UnlearningMethod]] = {}
ORIGINS: dict[str, str] = {}  # method name -> the package that provides it
_discovered = False  # every module here and every plugin imported (one imported alone registers only itself)


@dataclass(frozen=True)
class MethodInfo:
    name: str
    origin: str
    request_kinds: frozenset[str]
    summary: str


def register(cls: type[UnlearningMethod], origin: str = BUILT_IN) -> type[UnlearningMethod]:
    """Class decorator: make ``cls`` available under ``cls.name`` (with its own keys, ``cls.config_keys``)."""
    if cls.name == "retrain":
        raise ConfigError(f"unlearning method 'retrain' of {origin}: the name is the reference's; rename it")
    if cls.name in METHODS:
        raise ConfigError(f"unlearning method {cls.name!r} is defined twice: by {ORIGINS[cls.name]} and by {origin}; "
                          f"uninstall or rename one of them")
    add_method_keys(cls.name, cls.config_keys, origin)
    METHODS[cls.name] = cls
    ORIGINS[cls.name] = origin
    return cls


def _discover() -> None:
    global _discovered
    for module in pkgutil.iter_modules(__path__):
        if module.name != "base":
            importlib.import_module(f"{__name__}.{module.name}")
    load_plugins()
    _discovered = True


def load_plugins() -> None:
    """Register the methods of every installed package's ``fedunlearn.methods`` entry points."""
    for entry in entry_points(group=ENTRY_POINTS):
        origin = f"{entry.dist.name} {entry.dist.version}" if entry.dist else entry.value
        try:
            cls = entry.load()
        except Exception as exc:  # a plugin's own import error: name the plugin, not a traceback
            raise ConfigError(f"unlearning method plugin {entry.name!r} of {origin} cannot be loaded: "
                              f"{type(exc).__name__}: {exc}") from None
        if not (isinstance(cls, type) and issubclass(cls, UnlearningMethod)):
            raise ConfigError(f"unlearning method plugin {entry.name!r} of {origin}: {entry.value} is not a subclass "
                              f"of fedunlearn.strategies.methods.base.UnlearningMethod")
        register(cls, origin)


def available() -> dict[str, frozenset[str]]:
    """Method name -> request kinds it supports, for every registered method (and ``retrain``)."""
    if not _discovered:
        _discover()
    names = {name: cls.request_kinds for name, cls in METHODS.items()}
    names["retrain"] = frozenset({"class", "client", "sample", "sequential"})
    return names


def describe() -> list[MethodInfo]:
    """Every method, built-in or plugin, with where it comes from and the requests it serves."""
    available()
    return [MethodInfo(name, ORIGINS[name], cls.request_kinds,
                       ((cls.__doc__ or "").strip().splitlines() or [""])[0])
            for name, cls in sorted(METHODS.items())]


def get(name: str) -> type[UnlearningMethod]:
    available()
    return METHODS[name]
