"""The TUI's dependencies point one way: the app knows its panes and screens, never the reverse.

Panes and screens read the app through `seal_desk.tui.host` and ask it for work with the messages
of `seal_desk.tui.messages`; they import neither the app nor its workflows (not even for typing).
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

import seal_desk.tui

TUI = Path(seal_desk.tui.__file__).resolve().parent
APP_SIDE = ("seal_desk.tui.app", "seal_desk.tui.workflows")
PANE_SIDE = sorted(
    [
        *(TUI / "components").glob("*.py"),
        *(TUI / "screens").glob("*.py"),
        *(TUI / "dialogs").glob("*.py"),
        *(TUI / "widgets").glob("*.py"),
        TUI / "host.py",
        TUI / "messages.py",
        TUI / "palette.py",
    ]
)
SQL = re.compile(r"\b(SELECT\b.*\bFROM|INSERT INTO|UPDATE \w+ SET|DELETE FROM)\b", re.DOTALL)


def _rel(path: Path) -> str:
    return str(path.relative_to(TUI))


def imported(source: str, package: str) -> set[str]:
    """The modules `source` (a module of `package`) imports; `from a import b` gives a and a.b."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:  # relative: resolve against the package
                parts = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join(parts + ([base] if base else []))
            names.add(base)
            names.update(f"{base}.{alias.name}" for alias in node.names)
    return names


def imports_of(path: Path) -> set[str]:
    package = ".".join(["seal_desk", "tui", *path.relative_to(TUI).parent.parts])
    return imported(path.read_text(encoding="utf-8"), package)


def app_side(names: set[str]) -> list[str]:
    return sorted(n for n in names if any(n == m or n.startswith(m + ".") for m in APP_SIDE))


def test_the_checker_sees_every_kind_of_import():
    source = (
        "from __future__ import annotations\nfrom typing import TYPE_CHECKING\n"
        "if TYPE_CHECKING:\n    from seal_desk.tui.app import SealDeskApp\n"
        "def f():\n    from ..app import SealDeskApp\n    from .. import workflows\n"
        "    import seal_desk.tui.app as a\n"
    )
    names = imported(source, "seal_desk.tui.components")
    assert app_side(names) == ["seal_desk.tui.app", "seal_desk.tui.app.SealDeskApp", "seal_desk.tui.workflows"]
    assert app_side(imports_of(TUI / "app.py")) == ["seal_desk.tui.workflows"]  # the app is the other side
    assert {"components/library.py", "components/rl.py", "screens/main.py", "palette.py"} <= {
        _rel(p) for p in PANE_SIDE
    }


@pytest.mark.parametrize("path", PANE_SIDE, ids=_rel)
def test_panes_and_screens_do_not_import_the_app(path):
    bad = app_side(imports_of(path))
    assert not bad, f"{_rel(path)} imports {bad}: post a message (messages.py) or read the host (host.py)"


@pytest.mark.parametrize("path", sorted(TUI.rglob("*.py")), ids=_rel)
def test_no_raw_sql_in_the_tui(path):
    """The TUI reads the workspace through its methods (and seal_desk.restem.records), never raw SQL."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    raw = [
        n.lineno
        for n in ast.walk(tree)
        if isinstance(n, ast.Constant)
        and isinstance(n.value, str)
        and SQL.search(n.value)
        or isinstance(n, ast.Attribute)
        and n.attr in ("_rows", "db", "tx")
        or isinstance(n, ast.Attribute)
        and n.attr == "_row"
        and not (isinstance(n.value, ast.Name) and n.value.id in ("self", "cls"))
    ]
    assert not raw, f"{_rel(path)}: raw workspace SQL on line(s) {raw}"
