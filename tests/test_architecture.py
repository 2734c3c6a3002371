"""The package's shape, checked: layering, no import cycles, no private names across modules, short
functions, and citations that resolve inside the repository (docs/theory.md)."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("vpo_theory", "vpo_llm", "paper_repro", "benchmarks", "vpo")
#: Each package may import only the packages before it (vpo_theory → vpo_llm → paper_repro/benchmarks → vpo).
ALLOWED = {"vpo_theory": set(), "vpo_llm": {"vpo_theory"}, "paper_repro": {"vpo_theory", "vpo_llm"},
           "benchmarks": {"vpo_theory", "vpo_llm", "paper_repro"},
           "vpo": {"vpo_theory", "vpo_llm", "paper_repro", "benchmarks"}}
MAX_FUNCTION_LINES = 80
#: The longest a module may be: one job per module (a module past this splits along the maths, not the line count).
MAX_MODULE_LINES = {"vpo_theory/certified": 400, "vpo_theory": 500, "vpo_llm": 500}
#: Private attributes of other libraries' objects that have no public equivalent: argparse keeps a parser's
#: subcommands only in ``_actions`` (walked to list every command's flags).
THIRD_PARTY_PRIVATE = {"_actions", "_SubParsersAction"}


def _modules():
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            yield package, path, ast.parse(path.read_text(), filename=str(path))


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(path: Path, tree: ast.AST):
    """(absolute module imported, names imported from it or None) for every import in the file."""
    here = _module_name(path).split(".")
    is_package = path.name == "__init__.py"
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield alias.name, None
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = here if is_package else here[:-1]
                base = base[: len(base) - (node.level - 1)]
                module = ".".join(base + ([node.module] if node.module else []))
            else:
                module = node.module
            yield module, [alias.name for alias in node.names]


def test_layering():
    wrong = []
    for package, path, tree in _modules():
        for module, _ in _imports(path, tree):
            top = module.split(".")[0]
            if top in PACKAGES and top != package and top not in ALLOWED[package]:
                wrong.append(f"{path.relative_to(ROOT)} imports {module}")
            if package == "vpo_theory" and top in ("torch", "transformers", "trl"):
                wrong.append(f"{path.relative_to(ROOT)} imports {module} (vpo_theory is NumPy/SciPy/cvxpy only)")
    assert not wrong, "imports against the layering:\n" + "\n".join(wrong)


def test_no_import_cycles():
    graph: dict[str, set[str]] = {}
    for _, path, tree in _modules():
        name = _module_name(path)
        targets = graph.setdefault(name, set())
        for module, names in _imports(path, tree):
            candidates = [module] + [f"{module}.{n}" for n in names or []]
            targets.update(c for c in candidates if c.split(".")[0] in PACKAGES and c != name)
    graph = {name: {t for t in targets if t in graph and not name.startswith(t + ".")} for name, targets in
             graph.items()}  # a submodule importing its own package's __init__ is not a cycle between modules
    state: dict[str, int] = {}
    cycles = []

    def visit(node, stack):
        state[node] = 1
        for target in graph[node]:
            if state.get(target) == 1:
                cycles.append(" → ".join(stack[stack.index(target):] + [target]))
            elif target not in state:
                visit(target, stack + [target])
        state[node] = 2

    for node in graph:
        if node not in state:
            visit(node, [node])
    assert not cycles, "import cycles:\n" + "\n".join(cycles)


def test_no_private_names_across_modules():
    used = []
    for _, path, tree in _modules():
        # names bound to this package's modules (or objects) by imports: `x._private` on them is a leak
        ours = set()
        for module, names in _imports(path, tree):
            if module.split(".")[0] not in PACKAGES:
                continue
            for node in ast.walk(tree):
                if isinstance(node, ast.Import):
                    ours |= {alias.asname or alias.name for alias in node.names if alias.name == module}
            ours |= set(names or [])
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom):
                used += [f"{path.relative_to(ROOT)}: from {node.module} import {alias.name}" for alias in node.names
                         if alias.name.startswith("_") and not alias.name.startswith("__")]
                if any(part.startswith("_") and not part.startswith("__") for part in (node.module or "").split(".")):
                    if (node.module or "").split(".")[0] in PACKAGES:  # a package's private module, from outside it
                        used.append(f"{path.relative_to(ROOT)}: from {node.module}")
            elif isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id in ours:
                if node.attr.startswith("_") and not node.attr.startswith("__"):
                    used.append(f"{path.relative_to(ROOT)}:{node.lineno}: {node.value.id}.{node.attr}")
    assert not used, "private names used from another module:\n" + "\n".join(used)


def test_no_private_attributes_of_other_objects():
    """An object's underscore attributes are read by its own methods only (``self._x``, ``cls._x``,
    ``super()._x`` for an overridden method): another module reading ``objective._edges`` depends on a detail the
    owner may change. A value another module needs is public."""
    used = []
    for _, path, tree in _modules():
        for node in ast.walk(tree):
            if not (isinstance(node, ast.Attribute) and node.attr.startswith("_") and not node.attr.startswith("__")):
                continue
            owner = node.value
            if isinstance(owner, ast.Name) and owner.id in ("self", "cls"):
                continue
            if isinstance(owner, ast.Call) and isinstance(owner.func, ast.Name) and owner.func.id == "super":
                continue
            if node.attr in THIRD_PARTY_PRIVATE:
                continue
            used.append(f"{path.relative_to(ROOT)}:{node.lineno}: {ast.unparse(node)}")
    assert not used, "private attributes read from outside their object:\n" + "\n".join(used)


def test_modules_are_short():
    long = []
    for _, path, _ in _modules():
        relative = path.relative_to(ROOT).as_posix()
        limit = next((lines for prefix, lines in MAX_MODULE_LINES.items() if relative.startswith(prefix + "/")), None)
        count = len(path.read_text().splitlines())
        if limit is not None and count > limit:
            long.append(f"{relative}: {count} lines (at most {limit})")
    assert not long, "modules over their length limit:\n" + "\n".join(long)


def test_functions_are_short():
    long = [f"{path.relative_to(ROOT)}:{node.lineno} {node.name} ({node.end_lineno - node.lineno + 1} lines)"
            for _, path, tree in _modules() for node in ast.walk(tree)
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef))
            and node.end_lineno - node.lineno + 1 > MAX_FUNCTION_LINES]
    assert not long, f"functions over {MAX_FUNCTION_LINES} lines:\n" + "\n".join(long)


def _cited_texts():
    paths = [p for package in PACKAGES + ("tests", "notebooks") for p in (ROOT / package).rglob("*.py")]
    paths += [ROOT / "README.md", ROOT / "notebooks" / "README.md"] + sorted((ROOT / "docs").rglob("*.md"))
    return [(path, path.read_text()) for path in paths if path.exists()]


def test_theory_citations_resolve():
    """Every "theory §N" names a numbered section of docs/theory.md, every I-number an identity defined there."""
    theory = (ROOT / "docs" / "theory.md").read_text()
    sections = {int(n) for n in re.findall(r"^## (\d+)\. ", theory, flags=re.M)}
    identities = {int(n) for n in re.findall(r"\*\*\(I(\d)\)", theory)}
    assert sections == set(range(1, max(sections) + 1)) and identities == set(range(1, 8))
    unresolved = []
    for path, text in _cited_texts():
        for match in re.finditer(r"theory §(\d+)(?:[–-](\d+))?", text):
            numbers = {int(match.group(1))} | ({int(match.group(2))} if match.group(2) else set())
            if not numbers <= sections:
                unresolved.append(f"{path.relative_to(ROOT)}: {match.group(0)}")
        if re.search("MATH[ .](§|md)", text):  # the founding spec's labels (written so as not to match itself)
            unresolved.append(f"{path.relative_to(ROOT)}: cites the founding spec (MATH), which is not in the repository")
    assert not unresolved, "citations that do not resolve:\n" + "\n".join(unresolved)


@pytest.mark.parametrize("name", ["README.md", "notebooks/README.md", "docs/theory.md"])
def test_no_link_leaves_the_repository(name):
    path = ROOT / name
    if not path.exists():
        pytest.skip(f"{name} does not exist")
    text = path.read_text()
    leaving = [target for target in re.findall(r"\]\(([^)]+)\)", text)
               if not target.startswith(("http://", "https://", "#", "mailto:"))
               and not (path.parent / target.split("#")[0]).resolve().is_relative_to(ROOT)]
    assert not leaving, f"{name} links outside the repository: {leaving}"
    from paper_repro.registry import load_all

    generated = {"claims.md", "benchmarks.md", "cli.md", "figures/index.md"}  # written by docs/gen_pages.py at build
    generated |= {f"figures/{figure}.md" for figure in load_all()}  # time: one page per registered figure
    missing = [target for target in re.findall(r"\]\(([^)]+)\)", text)
               if not target.startswith(("http://", "https://", "#", "mailto:"))
               and not (path.parent / target.split("#")[0]).exists()
               and not (name.startswith("docs/") and target.split("#")[0] in generated)]
    assert not missing, f"{name} links to files that do not exist: {missing}"
    assert "shared/spec" not in text


def test_every_flag_has_help_and_no_help_names_a_missing_flag():
    """Walks every parser of the command line (``vpo.cli.all_parsers``); a help text may name another command's
    flag only with that command ("vpo theory --list-instances")."""
    import argparse

    from vpo.cli import all_parsers

    problems = []
    for name, parser in all_parsers():
        flags = {option for action in parser._actions for option in action.option_strings}
        texts = [parser.description or ""]
        for action in parser._actions:
            if not action.option_strings or isinstance(action, (argparse._HelpAction, argparse._VersionAction)):
                continue
            if not (action.help or "").strip():
                problems.append(f"{name} {action.option_strings[0]}: no help")
            shown = (parser.formatter_class(prog="vpo")._get_help_string(action) or "").replace("%(default)s", "X")
            if action.nargs != 0 and "default" not in shown:  # a flag that takes a value says what it is without one
                problems.append(f"{name} {action.option_strings[0]}: help shows no default")
            if shown.count("default") > 1:
                problems.append(f"{name} {action.option_strings[0]}: the default is shown twice")
            texts.append(action.help or "")
        for text in texts:
            for flag in re.findall(r"(?<![\w-])--[a-z][a-z0-9-]*", re.sub(r"vpo [a-z ]+--[a-z-]+", "", text)):
                if flag not in flags and flag.removeprefix("--no-") not in {f.removeprefix("--") for f in flags}:
                    problems.append(f"{name}: help names {flag}, which this command does not have")
    assert not problems, "\n".join(problems)


def test_every_flag_of_every_command_is_generated_from_a_dataclass():
    """No flag is written by hand (each would be a second home for a default and a help): every optional flag of
    every command comes from a config dataclass, but for argparse's own and the one that lists the instances."""
    import argparse

    from vpo.cli import all_parsers
    from vpo.config_cli import GENERATED

    by_hand = []
    for name, parser in all_parsers():
        for action in parser._actions:
            if (action.option_strings and not getattr(action, GENERATED, None)
                    and not isinstance(action, (argparse._HelpAction, argparse._VersionAction))
                    and action.dest != "list_instances"):
                by_hand.append(f"{name} {action.option_strings[0]}")
    assert not by_hand, "flags written by hand: " + ", ".join(by_hand)


def test_every_generated_flag_defaults_to_its_dataclass_field():
    """The command line is generated from the options dataclasses: every flag's default (the value argparse gives it
    and the one its help shows) is the dataclass's own (a default that drifted — `vpo theory offline --alpha-scale`
    once defaulted to 1.0 where the library's tuned value is 0.3 — fails here)."""
    import dataclasses

    from vpo.cli import all_parsers
    from vpo.config_cli import GENERATED

    checked, wrong = 0, []
    for name, parser in all_parsers():
        for action in parser._actions:
            defaults = getattr(action, GENERATED, None)
            if not defaults:
                continue
            field = action.dest
            first_class_default = next(iter(defaults.values()))
            if action.default is not None and action.default != first_class_default:
                wrong.append(f"{name} {action.option_strings[0]}: argparse default {action.default!r} != "
                             f"{first_class_default!r}")
            shown = "none" if first_class_default is None else ("''" if first_class_default == "" else
                                                                  str(first_class_default))
            if f"(default: {shown}" not in (action.help or ""):
                wrong.append(f"{name} {action.option_strings[0]}: help does not show {shown!r}")
            checked += 1
    assert checked > 60 and not wrong, "\n".join(wrong)
    from vpo.theory_cli import OfflineRun
    from vpo_theory.offline import OfflineOptions

    parser = dict(all_parsers())["vpo theory offline"]
    assert parser.get_default("alpha_scale") == OfflineOptions.__dataclass_fields__["alpha_scale"].default == 0.3
    assert parser.get_default("N") == OfflineRun.__dataclass_fields__["N"].default
    assert dataclasses.is_dataclass(OfflineRun)
