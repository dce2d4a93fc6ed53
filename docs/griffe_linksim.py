"""Griffe extension for the documentation site (listed under the Python handler in mkdocs.yml).

1. ``channels/`` as ``linksim.channels``. The channel generators live in the top-level folder
   ``channels/`` and install as the subpackage ``linksim.channels`` (setuptools
   ``package-dir``). Griffe reads ``linksim`` from its folder and finds no ``channels`` inside
   it, so ``::: linksim.channels.uma`` would not be found. This extension reads the
   ``channels/`` beside that ``linksim/`` statically (nothing is imported) and attaches it to the
   ``linksim`` package. Where the subpackage is already inside ``linksim`` (a regular install),
   it leaves it alone.
2. Shapes and units in brackets. The docstrings write a shape and then a unit in brackets,
   ``x coordinates [Nt] [m]``, which Markdown reads as a reference link ``[Nt][m]`` and the
   strict build reports as a missing cross-reference ``m``. A zero-width space after the blank
   (outside code spans) keeps the text as written and makes it plain text. ``[title][target]``
   with no blank, the cross-reference syntax, is left as it is.
"""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path
from typing import Any

from griffe import Extension, GriffeLoader, Module, Object, visit

_CODE_SPAN = re.compile(r"(`+).+?\1", re.DOTALL)
_BRACKETS_WITH_BLANK = re.compile(r"\]([ \t])\[")


def _plain_brackets(text: str) -> str:
    out, pos = [], 0
    for span in _CODE_SPAN.finditer(text):
        out.append(_BRACKETS_WITH_BLANK.sub("]\\1\u200b[", text[pos : span.start()]))
        out.append(span.group(0))
        pos = span.end()
    out.append(_BRACKETS_WITH_BLANK.sub("]\\1\u200b[", text[pos:]))
    return "".join(out)


def _fix_docstrings(obj: Object) -> None:
    if obj.docstring is not None:
        obj.docstring.value = _plain_brackets(obj.docstring.value)
    for member in obj.members.values():
        if not member.is_alias:
            _fix_docstrings(member)


def _visit(loader: GriffeLoader, name: str, path: Path, parent: Module) -> Module:
    code = path.read_text(encoding="utf-8-sig")
    loader.lines_collection[path] = code.splitlines(keepends=False)
    return visit(
        name,
        filepath=path,
        code=code,
        extensions=loader.extensions,
        parent=parent,
        docstring_parser=loader.docstring_parser,
        docstring_options=loader.docstring_options,
        lines_collection=loader.lines_collection,
        modules_collection=loader.modules_collection,
    )


def _attach_channels(pkg: Module, loader: GriffeLoader) -> None:
    if "channels" in pkg.members:
        return
    # The checkout's own channels/ beside the linksim/ that was read; else the installed one.
    folder = Path(str(pkg.filepath)).parent.parent / "channels"
    if not (folder / "__init__.py").is_file():
        spec = importlib.util.find_spec("linksim.channels")
        if spec is None or not spec.submodule_search_locations:
            return
        folder = Path(next(iter(spec.submodule_search_locations)))
    channels = _visit(loader, "channels", folder / "__init__.py", pkg)
    pkg.set_member("channels", channels)
    # Submodules come sorted by depth, so a subpackage is attached before its modules.
    for parts, path in loader.finder.submodules(channels):
        parent = channels
        for part in parts[:-1]:
            parent = parent.members[part]
        parent.set_member(parts[-1], _visit(loader, parts[-1], path, parent))


class LinksimDocs(Extension):
    """Attach ``linksim.channels``; keep bracketed shapes and units as plain text."""

    def on_package(self, *, pkg: Module, loader: GriffeLoader, **kwargs: Any) -> None:
        if pkg.path != "linksim":
            return
        _attach_channels(pkg, loader)
        _fix_docstrings(pkg)
