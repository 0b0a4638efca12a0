"""One program policy, two readers: what it allows the vetter accepts and the sandbox worker
provides; what it leaves out, both refuse. (Each hostile program's static outcome under the
policy: tests/test_vetting.py.)"""

from __future__ import annotations

import builtins
import importlib
import types

import pytest
from alchemist_runtime.policy import load_policy
from alchemist_runtime.sandbox import ProgramPool
from test_vetting import BENIGN

from alchemist_compiler.programs.vetting import BUILTIN_NAMES, vet

POLICY = load_policy()
# Builtins that hand a program classes, namespaces, code execution or I/O: never in the policy.
ESCAPE_BUILTINS = frozenset({
    "__build_class__", "__import__", "breakpoint", "classmethod", "compile", "delattr", "eval",
    "exec", "getattr", "globals", "hasattr", "input", "locals", "memoryview", "object", "open",
    "property", "setattr", "staticmethod", "super", "type", "vars",
})  # fmt: skip


@pytest.mark.parametrize("module", sorted(POLICY.modules))
def test_every_listed_attribute_exists_on_the_real_module(module: str) -> None:
    real = importlib.import_module(module)
    for name in POLICY.modules[module]:
        assert hasattr(real, name), f"{module}.{name}"
        assert not isinstance(getattr(real, name), types.ModuleType), f"{module}.{name}"
        assert not POLICY.forbids_attribute(name), f"{module}.{name}"


def test_a_submodule_is_reached_through_its_parent() -> None:
    for module in POLICY.modules:
        parent, _, leaf = module.rpartition(".")
        assert not parent or (parent in POLICY.modules and leaf not in POLICY.modules[parent])


def test_builtins_and_exceptions_are_real_and_in_their_own_list() -> None:
    def is_exception(name: str) -> bool:
        value = getattr(builtins, name)
        return isinstance(value, type) and issubclass(value, BaseException)

    assert POLICY.builtins <= BUILTIN_NAMES and POLICY.exceptions <= BUILTIN_NAMES
    assert not any(is_exception(name) for name in POLICY.builtins)
    assert all(issubclass(getattr(builtins, name), Exception) for name in POLICY.exceptions)
    assert not ESCAPE_BUILTINS & (POLICY.builtins | POLICY.exceptions)


def test_the_vetter_rejects_every_builtin_outside_the_policy() -> None:
    for name in sorted(BUILTIN_NAMES - POLICY.builtins - POLICY.exceptions):
        violations = vet(f"def label(x):\n    return 0 if {name} else 1\n")
        assert "forbidden-name" in {v.rule for v in violations}, name


@pytest.mark.parametrize("module", sorted(POLICY.modules))
def test_the_vetter_rejects_every_module_attribute_outside_the_policy(module: str) -> None:
    listed = POLICY.modules[module] | {m.rpartition(".")[2] for m in POLICY.modules}
    for name in sorted(set(dir(importlib.import_module(module))) - listed):
        source = f"import {module}\n\ndef label(x):\n    return 0 if {module}.{name} else 1\n"
        rules = {v.rule for v in vet(source)}
        assert rules & {"module-attribute", "forbidden-attribute"}, f"{module}.{name}"


def everything_allowed() -> str:
    """A vettable program that names every builtin, exception and module attribute allowed."""
    names = sorted(POLICY.builtins | POLICY.exceptions) + sorted(
        f"{module}.{name}" for module, names in POLICY.modules.items() for name in names
    )
    imports = "".join(f"import {module}\n" for module in sorted(POLICY.modules))
    listed = "".join(f"        {name},\n" for name in names)
    body = f"    names = (\n{listed}    )\n    return 1 if names else 0\n"
    return f"{imports}\n\ndef label(x):\n{body}"


def test_the_worker_provides_what_the_policy_allows() -> None:
    sources = [everything_allowed(), *(BENIGN[name].lstrip("\n") for name in sorted(BENIGN))]
    assert all(vet(source) == [] for source in sources)
    with ProgramPool(sources, 2, workers=2) as pool:
        result = pool.apply(["Free prize!! WIN now", "thanks, great song", ""])
    assert result.load_errors == [None] * len(sources)
    assert result.votes[:, 0].tolist() == [1, 1, 1]
    assert result.exceptions[0] == 0 and result.invalid.sum() == 0


@pytest.mark.parametrize(
    "source",
    [
        "def label(x):\n    return 1 if type else 0\n",
        "def label(x):\n    return 1 if SystemExit else 0\n",
        "import re\n\ndef label(x):\n    return 1 if re.RegexFlag else 0\n",
        "import collections\n\ndef label(x):\n    return 1 if collections.namedtuple else 0\n",
        "from string import Template\n\ndef label(x):\n    return 1\n",
    ],
    ids=["type", "SystemExit", "re.RegexFlag", "collections.namedtuple", "string.Template"],
)
def test_what_the_policy_leaves_out_the_vetter_rejects_and_the_worker_lacks(source: str) -> None:
    assert vet(source)
    with ProgramPool([source], 2, workers=1) as pool:
        result = pool.apply(["a", "b"])
    assert result.votes[:, 0].tolist() == [-1, -1]
    assert result.load_errors[0] is not None or result.exceptions[0] == 2
