"""The program policy: what an LLM-written labeling program may import, call and name.

`program_policy.json`, beside this file, is the one list. The compiler's static vetting reads it
through `load_policy`; the sandbox worker, a standalone script, reads the JSON itself.

- ``modules``: each importable module and the public attributes a program may use. Pure
  functions, constants, and classes a label function needs (``re.Pattern`` for isinstance).
  Absent on purpose: whatever reaches modules, frames, code objects, ``sys`` or ``os``; enum
  classes (``re.RegexFlag``: its sunder methods walk to ``sys.modules``; the flag constants stay);
  ``collections.namedtuple`` (builds a class by exec'ing generated code); ``string.Template`` and
  ``Formatter`` (class-level machinery, attribute lookups named by strings); ``functools.wraps``,
  ``update_wrapper``, ``singledispatch`` and class helpers; names added after Python 3.10.
- ``builtins``: the builtin names a program may use. No ``type``, ``object``, ``super``,
  ``__build_class__`` (so no class statements), descriptors, ``hasattr``/``getattr``, ``hash``
  (seed-dependent votes), introspection, I/O but ``print`` (its output is discarded).
- ``exceptions``: the exception classes a program may raise or catch: subclasses of Exception
  only (no SystemExit, KeyboardInterrupt, BaseException).
- ``forbidden_attributes``: attribute names forbidden on any object, on top of every name that
  starts with ``_`` (see `Policy.forbids_attribute`).
"""

from __future__ import annotations

import functools
import json
from dataclasses import dataclass
from pathlib import Path

POLICY_FILE = Path(__file__).with_name("program_policy.json")


@dataclass(frozen=True)
class Policy:
    modules: dict[str, frozenset[str]]  # module -> attributes programs may use
    builtins: frozenset[str]
    exceptions: frozenset[str]
    forbidden_attributes: frozenset[str]

    def forbids_attribute(self, name: str) -> bool:
        """Whether `name` is forbidden as an attribute of any object."""
        return name.startswith("_") or name in self.forbidden_attributes


@functools.cache
def load_policy(path: Path = POLICY_FILE) -> Policy:
    raw = json.loads(Path(path).read_text(encoding="utf-8"))
    return Policy(
        modules={module: frozenset(names) for module, names in raw["modules"].items()},
        builtins=frozenset(raw["builtins"]),
        exceptions=frozenset(raw["exceptions"]),
        forbidden_attributes=frozenset(raw["forbidden_attributes"]),
    )
