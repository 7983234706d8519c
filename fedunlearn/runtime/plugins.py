"""Registries of named parts (models, data sets) that the project defines by decorator and other installed
packages add through an entry point group.

A built-in registers where it is defined::

    MODELS = Registry("model", "fedunlearn.models", accepts=is_classifier, wants="a subclass of Classifier")

    @MODELS.register("cnn")
    class SmallCNN(Classifier): ...

A package of one's own declares ``[project.entry-points."fedunlearn.models"] tiny = "my_package:TinyNet"``; the
entry points are loaded on the first lookup, in whichever process asks (the server, a Ray worker, a SuperNode
that has the package installed). Two parts of one name, built-in or not, are an error naming both packages.
"""

from __future__ import annotations

from dataclasses import dataclass
from importlib.metadata import entry_points
from typing import Any, Callable

from fedunlearn.errors import ConfigError

BUILT_IN = "fedunlearn (built-in)"


@dataclass(frozen=True)
class Entry:
    """One registered part: its name, the package it comes from and the first line of its docstring."""

    name: str
    origin: str
    summary: str


class Registry:
    """Name -> object for one kind of part (``what``: 'model', 'dataset'), built-ins and plugins alike.

    Parameters
    ----------
    what
        The configuration key that names a part of this kind, as errors show it.
    group
        The entry point group other packages register under.
    accepts
        Whether an object can be registered; ``wants`` says in words what is accepted.
    """

    def __init__(self, what: str, group: str, accepts: Callable[[Any], bool], wants: str) -> None:
        self.what, self.group, self.accepts, self.wants = what, group, accepts, wants
        self._objects: dict[str, Any] = {}
        self._origins: dict[str, str] = {}
        self._plugins_loaded = False

    def register(self, name: str, origin: str = BUILT_IN) -> Callable[[Any], Any]:
        """Decorator: make the decorated object available as ``name``."""
        def add(obj: Any) -> Any:
            self.add(name, obj, origin)
            return obj
        return add

    def add(self, name: str, obj: Any, origin: str = BUILT_IN) -> None:
        if not self.accepts(obj):
            raise ConfigError(f"{self.what} {name!r} of {origin}: {obj!r} is not {self.wants}")
        if name in self._objects:
            raise ConfigError(f"{self.what} {name!r} is defined twice: by {self._origins[name]} and by {origin}; "
                              f"uninstall or rename one of them")
        self._objects[name] = obj
        self._origins[name] = origin

    def load_plugins(self) -> None:
        """Register every installed package's entry points of this registry's group (once per process)."""
        if self._plugins_loaded:
            return
        self._plugins_loaded = True
        for entry in entry_points(group=self.group):
            origin = f"{entry.dist.name} {entry.dist.version}" if entry.dist else entry.value
            try:
                obj = entry.load()
            except Exception as exc:  # a plugin's own import error: name the plugin, not a traceback
                raise ConfigError(f"{self.what} plugin {entry.name!r} of {origin} cannot be loaded: "
                                  f"{type(exc).__name__}: {exc}") from None
            self.add(entry.name, obj, origin)

    def names(self) -> list[str]:
        self.load_plugins()
        return sorted(self._objects)

    def get(self, name: str) -> Any:
        """The object registered as ``name``; an unknown name is a ConfigError listing the known ones."""
        self.load_plugins()
        if name not in self._objects:
            raise ConfigError(f"{self.what} = {name!r}: must be one of {', '.join(map(repr, self.names()))} "
                              f"(built-in, or registered under the entry point group {self.group!r})")
        return self._objects[name]

    def describe_origin(self, name: str) -> str:
        """The package ``name`` comes from (its version included), as listings show it."""
        self.get(name)
        return self._origins[name]

    def describe(self) -> list[Entry]:
        """Every registered part, with where it comes from and the first sentence of its docstring."""
        return [Entry(name, self._origins[name], first_sentence(getattr(self._objects[name], "__doc__", None)))
                for name in self.names()]


def first_sentence(doc: str | None) -> str:
    paragraph = " ".join((doc or "").strip().split("\n\n")[0].split())
    return paragraph.split(". ")[0].rstrip(".") + "." if paragraph else ""
