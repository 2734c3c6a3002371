"""Command-line flags generated from config dataclasses: one flag per field, its help from the field's metadata
(``vpo_theory.options.option``), its type from the annotation, its choices from the metadata, and its default the
dataclass's own — so a flag can never drift from the library's default (tested for every command).

Imports nothing heavy: a command's ``--help`` answers before torch, transformers or cvxpy load.
"""

from __future__ import annotations

import argparse
import dataclasses

__all__ = ["add_command", "add_config_flags", "given_values", "flag_name", "GENERATED"]

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


def _fields(cls, skip, nested):
    """(field, inner) for each init field of ``cls`` not in ``skip``: ``inner`` is the default instance of a
    ``nested`` dataclass field (whose own fields become flags), None for a plain field."""
    for item in dataclasses.fields(cls):
        if item.name not in skip and item.init:
            yield item, (_field_default(item) if item.name in nested else None)


def _flattened(cls, skip, nested):
    """[(field, default)] of ``cls``: its own fields, and those of each ``nested`` dataclass field in its place (their
    defaults: the nested default instance's values)."""
    items = []
    for item, inner in _fields(cls, skip, nested):
        if inner is not None:
            items += [(sub, getattr(inner, sub.name)) for sub in dataclasses.fields(inner) if sub.init]
        else:
            items.append((item, _field_default(item)))
    return items


def add_config_flags(parser, config_class, other_class=None, *, second_label: str = "", skip=(), given_only=False,
                     first=(), nested=()) -> None:
    """One flag per field of ``config_class`` (and of ``other_class``, a second config sharing the command's flags).

    ``nested``: fields holding a dataclass (e.g. ``term``, a ``VPOTerm``) whose own fields become flags. ``given_only``:
    flags default to None, so the run knows which were given and the config's own default applies to the rest;
    otherwise a flag's default is the field's. The help shows the default once; a field the other class has with
    another default says so ("…; with --model: X"). ``first``: fields listed before the others.
    """
    classes = [config_class] + ([other_class] if other_class is not None else [])
    fields: dict[str, dict] = {}
    defaults_of: dict[str, dict] = {}
    for cls in classes:
        for item, default in _flattened(cls, skip, nested):
            fields.setdefault(item.name, {})[cls] = item
            defaults_of.setdefault(item.name, {})[cls] = default
    order = sorted(fields, key=lambda name: (name not in first, list(first).index(name) if name in first else 0))
    for name in order:
        per_class = fields[name]
        item = next(iter(per_class.values()))
        defaults = defaults_of[name]
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


def add_command(subparsers, name: str, run_class, handler, *, help: str, first=(), after: str = ""):  # noqa: A002
    """A subcommand whose flags are ``run_class``'s fields and whose description is the class's docstring (after its
    "``vpo …``: " head; ``after``: text added to it)."""
    text = run_class.__doc__.split("``: ", 1)[-1] + after
    parser = subparsers.add_parser(name, help=help, description=text[:1].upper() + text[1:])
    add_config_flags(parser, run_class, first=first)
    parser.set_defaults(handler=handler)
    return parser


def _shown(value) -> str:
    return "none" if value is None else ("''" if value == "" else str(value))


def given_values(args, config_class, *, skip=(), nested=()) -> dict:
    """The fields of ``config_class`` that ``args`` holds and that are not None; each ``nested`` field rebuilt from
    its own flags (``dataclasses.replace`` of its default)."""
    given = {name: value for name, value in vars(args).items() if value is not None}
    values = {}
    for item, inner in _fields(config_class, skip, nested):
        if inner is not None:
            changes = {sub.name: given[sub.name] for sub in dataclasses.fields(inner) if sub.name in given}
            if changes:
                values[item.name] = dataclasses.replace(inner, **changes)
        elif item.name in given:
            values[item.name] = given[item.name]
    return values
