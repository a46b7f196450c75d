"""Plugins: your own models (or anything else that registers itself) for the ``wildfer`` command.

A plugin is a Python module whose import registers something, e.g. a model builder with
:func:`wildfer.models.registry.register_model`. Two ways in:

- **named**: a recipe's ``plugins: [mypkg.models, ...]`` or ``--plugin mypkg.models`` on
  ``train``, ``evaluate``, ``predict`` and ``ablate``; the module must be importable (installed, or
  on ``PYTHONPATH``). Named plugins are imported before anything is built.
- **installed**: a package that declares an entry point in the group ``wildfer.plugins``
  (``pyproject.toml``: ``[project.entry-points."wildfer.plugins"] mymodels = "mypkg.models"``) is
  imported the first time wildfer looks a model up by name, with nothing to name anywhere.

A checkpoint of a plugin model records the recipe's ``plugins`` in its metadata; loading it does
not import them (a file never decides which code runs), but the error for an unknown model names
them. Nothing here imports torch: predict's inference side stays torch-free.
"""

from __future__ import annotations

import importlib
import traceback
from importlib import metadata
from typing import Iterable

from .errors import ConfigError

ENTRY_POINT_GROUP = "wildfer.plugins"
_entry_points_loaded = False


def import_plugin(module: str) -> None:
    """Import ``module``; a failure is one :class:`ConfigError` line naming it (and, when the
    module itself raised, the file and line where)."""
    _guarded(f"plugin {module!r}", module, lambda: importlib.import_module(module))


def _guarded(what: str, module: str, load) -> None:
    try:
        load()
    except ModuleNotFoundError as e:
        if e.name is not None and module.split(":")[0].startswith(e.name):
            raise ConfigError(f"{what}: no such module (install it, or put its folder on PYTHONPATH)") from None
        raise ConfigError(f"{what}: importing it failed ({_where(e)}ModuleNotFoundError: {e})") from None
    except Exception as e:  # noqa: BLE001 - a plugin's own bug: one line naming where it is
        raise ConfigError(f"{what}: importing it failed ({_where(e)}{type(e).__name__}: {e})") from None


def _where(e: BaseException) -> str:
    frames = traceback.extract_tb(e.__traceback__)
    return f"{frames[-1].filename}:{frames[-1].lineno}: " if frames else ""


def load_plugins(modules: Iterable[str] = ()) -> None:
    """Import the named plugin ``modules`` (in order) and, once per process, every installed
    entry point of :data:`ENTRY_POINT_GROUP`."""
    load_entry_points()
    for m in modules:
        import_plugin(m)


def load_entry_points() -> None:
    """Import every installed ``wildfer.plugins`` entry point, once per process. Its value names a
    module (``mypkg.models``) or a function in one (``mypkg.models:register``), which is called."""
    global _entry_points_loaded
    if _entry_points_loaded:
        return
    _entry_points_loaded = True  # first: a plugin that looks a model up must not come back here
    for ep in metadata.entry_points(group=ENTRY_POINT_GROUP):
        dist = f" of {ep.dist.name}" if ep.dist is not None else ""

        def load(ep=ep):
            obj = ep.load()
            if ep.attr and callable(obj):
                obj()

        _guarded(f"installed plugin {ep.name!r}{dist} (entry point {ep.value})", ep.value, load)
