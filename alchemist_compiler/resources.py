"""Where the compiler finds its templates and the runtime it copies into every labeler."""

from __future__ import annotations

import functools
import json
from pathlib import Path

import jinja2

ROOT = Path(__file__).resolve().parent.parent
TEMPLATES = ROOT / "templates"
RUNTIME = ROOT / "runtime"


@functools.cache
def template_env(folder: str) -> jinja2.Environment:
    """A strict jinja2 environment over templates/<folder>/ (undefined names are errors)."""
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES / folder),
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
        trim_blocks=True,
        autoescape=False,
    )
    env.filters["quote"] = lambda text: json.dumps(text, ensure_ascii=False)
    return env
