"""Every file the package needs at run time is in its wheel.

The wheel takes Python modules by itself; any other file (the KQL grammar,
templates, static assets) must be listed in ``package-data``, or an
installed gateway fails where the editable checkout works.
"""

from __future__ import annotations

import fnmatch
import tomllib
from pathlib import Path

ROOT = Path(__file__).parent.parent


def test_every_data_file_is_listed_in_package_data() -> None:
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    patterns = pyproject["tool"]["setuptools"]["package-data"]["tollhouse"]
    package = ROOT / "tollhouse"
    data = [
        path.relative_to(package).as_posix()
        for path in package.rglob("*")
        if path.is_file()
        and path.suffix not in (".py", ".pyc")
        and "__pycache__" not in path.parts
    ]

    unlisted = [f for f in data if not any(fnmatch.fnmatch(f, p) for p in patterns)]

    assert "kql/grammar.lark" in data
    assert unlisted == []
