"""Command-line flags generated from config dataclasses: one flag per field, its help from the field's metadata
(``vpo_theory.options.option``), its type from the annotation, its choices from the metadata, and its default the
dataclass's own — so a flag can never drift from the library's default (tested for every command).

Imports nothing heavy: a command's ``--help`` answers before torch, transformers or cvxpy load.
"""

from __future__ import annotations

import argparse
import dataclasses

__all__ = ["add_config_flags", "given_values", "flag_name", "GENERATED"]

#: Marks a generated flag's action: {config class: the field's default} (read by the tests and the help text).
GENERATED = "config_defaults"


def flag_name(name: str) -> str:
    return "--" + name.replace("_", "-")


def _field_default(item: dataclasses.Field):
    if item.default is not dataclasses.MISSING:
        return item.default
    if item.default_factory is not dataclasses.MISSING:
        return item.default_factory()
    return None


def _kind(annotation) -> tuple:
    """(argparse type, nargs) from a field's annotation (a string under ``from __future__ import annotations``)."""
    text = str(annotation)
    if text.startswith("list[int]"):
        return int, "+"
    for name, kind in (("bool", bool), ("int", int), ("float", float)):
        if text.split(" |")[0].strip() == name:
            return kind, None
    return str, None


def add_config_flags(parser, config_class, other_class=None, *, second_label: str = "", skip=(), given_only=False,
                     first=()) -> None:
    """One flag per field of ``config_class`` (and of ``other_class``, a second config sharing the command's flags).

    ``given_only``: flags default to None, so the run knows which were given and the config's own default applies to
    the rest (needed where one command builds either of two configs with different defaults); otherwise a flag's
    default is the field's. The help shows the default once; a field the other class has with another default says
    so ("…; with --model: X"). ``first``: fields listed before the others (e.g. the run's own, before the options).
    """
    classes = [config_class] + ([other_class] if other_class is not None else [])
    fields: dict[str, dict] = {}
    for cls in classes:
        for item in dataclasses.fields(cls):
            if item.name not in skip and item.init:
                fields.setdefault(item.name, {})[cls] = item
    order = sorted(fields, key=lambda name: (name not in first, list(first).index(name) if name in first else 0))
    for name in order:
        per_class = fields[name]
        item = next(iter(per_class.values()))
        defaults = {cls: _field_default(field) for cls, field in per_class.items()}
        text = (item.metadata.get("help") or name).rstrip()
        if config_class in defaults:
            text += f" (default: {_shown(defaults[config_class])}"
            if other_class in defaults and defaults[other_class] != defaults[config_class]:
                text += f"; {second_label}: {_shown(defaults[other_class])}"
            text += ")"
        else:
            text += f" ({second_label} only; default: {_shown(defaults[other_class])})"
        kind, nargs = _kind(item.type)
        default = None if given_only else defaults.get(config_class, defaults.get(other_class))
        options = {"default": default, "help": text.replace("%", "%%")}
        if kind is bool:
            action = parser.add_argument(flag_name(name), action=argparse.BooleanOptionalAction, **options)
        else:
            choices = item.metadata.get("choices")
            if choices is None:
                options["metavar"] = name.upper()
            action = parser.add_argument(flag_name(name), type=kind, nargs=nargs, choices=choices, **options)
        setattr(action, GENERATED, {cls.__name__: value for cls, value in defaults.items()})


def _shown(value) -> str:
    return "none" if value is None else ("''" if value == "" else str(value))


def given_values(args, config_class, *, skip=()) -> dict:
    """The fields of ``config_class`` that ``args`` holds and that are not None."""
    names = {item.name for item in dataclasses.fields(config_class) if item.init} - set(skip)
    return {name: value for name, value in vars(args).items() if name in names and value is not None}
