"""Normalize vetted source with ruff (safe fixes, then format), independent of any config."""

from __future__ import annotations

import subprocess
import sys

RUFF_FIXES = "F401,I,UP"  # unused imports, import order, modern syntax: all safe fixes


def _ruff(args: list[str], source: str) -> str:
    result = subprocess.run(
        [sys.executable, "-m", "ruff", *args, "--isolated", "--line-length", "100",
         "--stdin-filename", "program.py", "-"],
        input=source, capture_output=True, text=True, check=False,
    )
    if result.returncode != 0:
        raise ValueError(f"ruff {args[0]} failed: {result.stderr.strip().splitlines()[-1:]}")
    return result.stdout


def normalize(source: str) -> str:
    """ruff's safe fixes for a small rule set, then ruff format."""
    fixed = _ruff(["check", "--fix-only", "--exit-zero", "--select", RUFF_FIXES], source)
    return _ruff(["format"], fixed)
