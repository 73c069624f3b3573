import pkgutil
import subprocess
import sys

import seal_desk


def core_modules():
    return [
        m.name
        for m in pkgutil.walk_packages(seal_desk.__path__, "seal_desk.")
        if not m.name.startswith("seal_desk.tui") and m.name != "seal_desk.__main__"
    ]


def test_core_imports_no_textual():
    mods = core_modules()
    assert "seal_desk.engine" in mods and "seal_desk.cli.main" in mods
    code = (
        "import sys\n"
        + "".join(f"import {m}\n" for m in mods)
        + "bad = sorted(m for m in sys.modules if m == 'textual' or m.startswith('textual.'))\n"
        "print(','.join(bad))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "", f"core imported textual: {out.stdout}"
