"""Provenance and atomic writes: what every saved record carries, and how files are written.

The lowest layer that writes files: the LLM trainers (checkpoints, metrics), the figure scripts
and the command line all write through here, so a run interrupted at any moment never leaves a
half-written file, and every record says which code, commit and machine made it.
"""

from __future__ import annotations

import json
import os
import platform
import subprocess
import tempfile
import time
from importlib.metadata import distributions
from pathlib import Path
from collections.abc import Iterable
from typing import Any, Callable

import numpy as np

__all__ = ["package_version", "git_commit", "source_hash", "imported_sources", "provenance", "writable_folder", "check_output",
           "atomic_write", "atomic_write_text", "atomic_write_json", "to_json", "SOURCE_FOLDERS"]

#: What a record's ``source_hash`` covers: the code that computes and summarizes it (and the pre-registered claims);
#: the command line (``vpo/``) only calls into these.
SOURCE_FOLDERS = ("vpo_theory", "vpo_llm", "paper_repro")
#: Left out of the hash: the library's tuned defaults, data that no record depends on (the figures pass the tuning
#: record's values explicitly, ``vpo_theory.tuned``).
SOURCE_EXCLUDED = ("vpo_theory/tuned.py",)

#: Files this package writes are readable by others (a record is for sharing); umask may narrow it further.
FILE_MODE = 0o644


def git_commit() -> str:
    """The current commit (with "-dirty" if the tree has changes outside figures/), or "unknown" outside git."""
    here = Path(__file__).resolve().parent
    try:
        commit = subprocess.run(["git", "rev-parse", "HEAD"], cwd=here, capture_output=True, text=True, timeout=10)
        if commit.returncode != 0:
            return "unknown"
        # "-dirty" flags uncommitted code; the figure records being (re)written do not count
        dirty = subprocess.run(["git", "status", "--porcelain", "--", ":/", ":(exclude,top)figures"], cwd=here,
                               capture_output=True, text=True, timeout=10)
        return commit.stdout.strip() + ("-dirty" if dirty.stdout.strip() else "")
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def source_hash(root: Path | None = None, *, modules: Iterable[str] | None = None, skip: Iterable[str] = (),
                extra: str = "") -> str:
    """sha256 (first 16 hex digits) of what a record's numbers depend on: the code of every ``.py`` file under
    ``SOURCE_FOLDERS`` (its tokens, less comments and docstrings: documentation does not change what a record ran),
    every ``.toml`` file there (the pre-registered claims) and the dependencies declared in ``pyproject.toml``, less
    ``SOURCE_EXCLUDED``. A record whose hash differs from the tree's was computed by other code: it is stale
    (``vpo repro --stale``).

    With ``modules`` (dotted names) only the code those modules run is hashed — their files and those they import,
    followed through ``SOURCE_FOLDERS`` (``imported_sources``; ``skip``: modules not followed) — with ``extra`` (text
    the caller adds, e.g. a figure's claims): a figure's record is then stale only when code it ran changed."""
    import hashlib
    import json
    import tomllib

    root = Path(root) if root is not None else Path(__file__).resolve().parents[1]
    digest = hashlib.sha256()
    if modules is None:
        files = sorted(path for folder in SOURCE_FOLDERS for pattern in ("*.py", "*.toml")
                       for path in (root / folder).rglob(pattern) if "__pycache__" not in path.parts)
    else:
        files = imported_sources(modules, root, skip=skip)
    for path in files:
        relative = path.relative_to(root).as_posix()
        if relative in SOURCE_EXCLUDED:
            continue
        content = _code_tokens(path.read_text()) if path.suffix == ".py" else path.read_text()
        digest.update(relative.encode() + b"\0" + content.encode() + b"\0")
    pyproject = root / "pyproject.toml"
    if pyproject.exists():
        project = tomllib.loads(pyproject.read_text()).get("project", {})
        declared = {"dependencies": project.get("dependencies", []),
                    "optional-dependencies": project.get("optional-dependencies", {})}
        digest.update(b"pyproject\0" + json.dumps(declared, sort_keys=True).encode())
    if extra:
        digest.update(b"extra\0" + extra.encode())
    return digest.hexdigest()[:16]


def imported_sources(modules: Iterable[str], root: Path | None = None, *, skip: Iterable[str] = ()) -> list[Path]:
    """The files of ``SOURCE_FOLDERS`` that ``modules`` run: each module's file and, transitively, those of the modules
    it imports (absolute or relative, at the top or inside a function: an import anywhere in the file counts). A
    package imported as a whole (``import vpo_theory``, or a name that is no submodule: ``from vpo_theory import
    run_online`` may load any of its modules lazily) brings every module under it; one reached only as the parent of
    a submodule brings its ``__init__.py``, read but not followed (it runs there to register its modules, not for this
    one). Modules in ``skip`` are neither read nor followed. Other packages (numpy, torch, TRL, …) are represented by
    the dependencies ``pyproject.toml`` declares."""
    import ast

    root = Path(root) if root is not None else Path(__file__).resolve().parents[1]
    skipped = set(skip)

    def file_of(name: str) -> Path | None:
        parts = name.split(".")
        if parts[0] not in SOURCE_FOLDERS:
            return None
        base = root.joinpath(*parts)
        return next((path for path in (base.with_suffix(".py"), base / "__init__.py") if path.is_file()), None)

    seen, files, queue = set(), set(), list(modules)
    while queue:
        name = queue.pop()
        if name in seen or name in skipped or (path := file_of(name)) is None:
            continue
        seen.add(name)
        files.add(path)
        parts = name.split(".")
        files.update(init for i in range(1, len(parts)) if (init := root.joinpath(*parts[:i], "__init__.py")).is_file())
        if path.name == "__init__.py":  # the whole package
            queue += [".".join(parts + list(module.relative_to(path.parent).with_suffix("").parts)).removesuffix(
                ".__init__") for module in path.parent.rglob("*.py") if module != path and "__pycache__" not in module.parts]
        package = parts if path.name == "__init__.py" else parts[:-1]
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                queue += [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                anchor = package[:len(package) - node.level + 1] if node.level else []
                base = ".".join(anchor + ([node.module] if node.module else []))
                for alias in node.names:  # a submodule, or a name of the module or package ``base``
                    submodule = f"{base}.{alias.name}"
                    queue.append(submodule if file_of(submodule) is not None else base)
    return sorted(files)


def _code_tokens(text: str) -> str:
    """The code of a Python source: its comments and docstrings (a module's, class's or function's first statement
    when it is a string literal) cut out, trailing spaces and blank lines dropped. Positions come from ``ast`` and
    ``tokenize``, so the result is the same under every Python version that parses the file."""
    import ast
    import io
    import tokenize

    cuts = []  # ((row, column), (row, column)) spans to remove, rows from 1
    for node in ast.walk(ast.parse(text)):
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)) and node.body:
            first = node.body[0]
            if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant) \
                    and isinstance(first.value.value, str):
                cuts.append(((first.lineno, first.col_offset), (first.end_lineno, first.end_col_offset)))
    cuts += [(token.start, token.end) for token in tokenize.generate_tokens(io.StringIO(text).readline)
             if token.type == tokenize.COMMENT]
    lines = text.splitlines()
    for (start_row, start_col), (end_row, end_col) in sorted(cuts, reverse=True):
        head, tail = lines[start_row - 1][:start_col], lines[end_row - 1][end_col:]
        lines[start_row - 1:end_row] = [head + tail]
    return "\n".join(line.rstrip() for line in lines if line.strip())


def package_version() -> str:
    """The installed version of the ``vpo`` distribution ("0.0.0+unknown" in a source tree never installed)."""
    return next((distribution.version for distribution in distributions(name="vpo")), "0.0.0+unknown")


def provenance(sources: str | None = None) -> dict[str, Any]:
    """Package version, git commit (and whether the tree was clean), the sources' hash (``sources``, or that of every
    source file), Python, NumPy, machine and time of creation."""
    commit = git_commit()
    return {
        "package_version": package_version(),
        "git_commit": commit,
        "clean": not commit.endswith("-dirty") and commit != "unknown",
        "source_hash": sources if sources is not None else source_hash(),
        "python": platform.python_version(),
        "numpy": np.__version__,
        "machine": platform.machine(),
        "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }


def atomic_write(path: Path, write: Callable[[Path], None]) -> None:
    """``write(temporary)`` into a temporary file in the same folder, fsync, then rename onto ``path``.

    Readers see the old file or the new one, never half of one; the temporary file goes if ``write`` fails.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(handle)
    temporary = Path(name)
    try:
        write(temporary)
        with open(temporary, "rb") as stream:
            os.fsync(stream.fileno())
        os.chmod(temporary, FILE_MODE)  # mkstemp creates 0600
        os.replace(temporary, path)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise


def remove_stale_temporaries(folder: Path) -> int:
    """Delete the temporary files ``atomic_write`` left in ``folder`` (a process killed by SIGKILL mid-write cannot
    remove its own); call it before a run starts writing there. Returns how many were removed."""
    removed = 0
    for stale in Path(folder).glob(".*.tmp") if Path(folder).is_dir() else ():
        stale.unlink(missing_ok=True)
        removed += 1
    return removed


def writable_folder(folder: Path) -> str | None:
    """None if files can be created in ``folder`` (made if missing), else the reason (for a message)."""
    try:
        Path(folder).mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=folder):
            pass
    except OSError as error:
        return error.strerror or str(error)
    return None


def check_output(parser, flag: str, folder: Path) -> None:
    """``parser.error`` (exit 2, naming ``flag``) when files cannot be written in ``folder``: called by the command
    line before anything is computed."""
    reason = writable_folder(folder)
    if reason is not None:
        parser.error(f"{flag} {folder}: cannot write there ({reason}); choose a folder you can write to")


def atomic_write_text(path: Path, text: str) -> None:
    atomic_write(path, lambda temporary: temporary.write_text(text))


def to_json(value):
    """``json.dumps`` default: NumPy arrays and scalars as plain lists and numbers."""
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, (np.floating, np.integer)):
        return value.item()
    raise TypeError(f"not JSON-serializable: {type(value).__name__}")


def atomic_write_json(path: Path, record: dict) -> None:
    atomic_write_text(path, json.dumps(record, indent=1, default=to_json, allow_nan=True) + "\n")
