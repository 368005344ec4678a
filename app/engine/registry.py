"""Maps OAM plugin names to plugin classes.

The built-in plugins come from the ``plugins`` package's ``ALL`` list; third
parties join through the ``stepgate.plugins`` entry point group. A YAML file
never names a Python path.
"""

from __future__ import annotations

from importlib import import_module
from importlib.metadata import entry_points

from app.engine.plugin import Plugin

ENTRY_POINT_GROUP = "stepgate.plugins"


class UnknownPlugin(KeyError):
    def __init__(self, name: str, known: list[str]):
        self.name, self.known = name, known
        super().__init__(name)

    def __str__(self) -> str:
        return f"unknown plugin '{self.name}' (known: {', '.join(self.known)})"


class PluginRegistry:
    def __init__(self, classes: list[type[Plugin]] | None = None):
        self._classes: dict[str, type[Plugin]] = {}
        for cls in classes or []:
            self.register(cls)

    def register(self, cls: type[Plugin]) -> None:
        if not (isinstance(cls, type) and issubclass(cls, Plugin) and cls.name):
            raise TypeError(f"{cls!r} is not a named stepgate Plugin")
        self._classes[cls.name] = cls

    def get(self, name: str) -> type[Plugin]:
        try:
            return self._classes[name]
        except KeyError:
            raise UnknownPlugin(name, self.names()) from None

    def names(self) -> list[str]:
        return sorted(self._classes)

    @classmethod
    def discover(cls) -> PluginRegistry:
        builtin = import_module("plugins")
        registry = cls(list(builtin.ALL))
        for ep in entry_points(group=ENTRY_POINT_GROUP):
            registry.register(ep.load())
        return registry
