"""Static vetting of LLM-written labeling programs: the libcst layer of a defense in depth.

A program is one module defining ``def label(x) -> int``. `vet` checks the source against two
gates (it must parse, and not be too large) and then against every rule in `RULES`; an empty
result means the program may go on to the sandbox, which enforces its own limits at run time.

Policy in brief (each rule's docstring has the details):

* No dunder identifiers anywhere, not even ``def __init__`` in a class: a program needs none,
  and without them no program-defined class can hook into Python's protocols.
* ``type`` is a forbidden name, like ``getattr``, ``eval`` and ``vars``: ``type(name, bases,
  ns)`` builds classes whose dunder methods are named by strings.
* Importing must not run program code: outside functions only imports, ``def``, ``class``,
  constant assignments and a docstring are allowed, and the expressions evaluated at import may
  call only `IMPORT_TIME_CALLS` (``re.compile``, ``frozenset``, ...).
* An imported module may only be used as ``module.public_name``; its private names, the modules
  it imported itself (``statistics.sys``) and `DENIED_MODULE_ATTRIBUTES` are off limits.
  Only top-level modules may be imported (no ``collections.abc``), never with ``*``.
* No ``global`` statements; ``nonlocal`` is fine. Identifiers must be ASCII, and a coding cookie,
  if any, must say utf-8.
"""

from __future__ import annotations

import ast
import functools
import importlib
import re
import string
import unicodedata
import warnings
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from types import ModuleType
from typing import ClassVar

import libcst as cst
from libcst.metadata import MetadataWrapper, PositionProvider

ALLOWED_IMPORTS: frozenset[str] = frozenset(
    {"re", "math", "string", "collections", "itertools", "functools", "statistics", "unicodedata"}
)
MAX_DEPTH = 100  # deepest syntax nesting accepted (keeps every recursive pass far from its limit)
SYNTAX_ERROR = "syntax-error"
TOO_LARGE = "too-large"

FORBIDDEN_NAMES = frozenset({
    "__import__", "breakpoint", "compile", "copyright", "credits", "delattr", "eval", "exec",
    "exit", "getattr", "globals", "help", "input", "license", "locals", "memoryview", "open",
    "quit", "setattr", "type", "vars",
})  # fmt: skip
FRAME_ATTRIBUTES = frozenset({  # generator/coroutine -> frame -> globals, builtins, code
    "ag_await", "ag_code", "ag_frame", "co_code", "co_consts", "co_names", "cr_await", "cr_code",
    "cr_frame", "cr_origin", "f_back", "f_builtins", "f_code", "f_globals", "f_locals", "f_trace",
    "gi_code", "gi_frame", "gi_yieldfrom", "tb_frame", "tb_next",
})  # fmt: skip
DENIED_MODULE_ATTRIBUTES: dict[str, str] = {
    "string.Formatter": "reads attributes named in format strings",
    "functools.update_wrapper": "copies attributes named by strings",
    "functools.wraps": "copies attributes named by strings",
    "functools.singledispatch": "evaluates string annotations",
    "functools.singledispatchmethod": "evaluates string annotations",
}
IMPORT_TIME_CALLS = frozenset(
    {"re.compile", "re.escape", "frozenset", "set", "tuple", "dict", "list"}
)
IMPORT_TIME_DECORATORS = frozenset(
    {"staticmethod", "classmethod", "property", "functools.cache", "functools.lru_cache"}
)
_INERT_EXPRESSIONS = (  # evaluating these runs no program code (there are no dunders)
    cst.Name, cst.Attribute, cst.Integer, cst.Float, cst.Imaginary, cst.SimpleString,
    cst.ConcatenatedString, cst.FormattedString, cst.Ellipsis, cst.Tuple, cst.List, cst.Set,
    cst.Dict, cst.StarredElement, cst.UnaryOperation, cst.BinaryOperation, cst.BooleanOperation,
    cst.Comparison, cst.IfExp, cst.Subscript, cst.ListComp, cst.SetComp, cst.DictComp,
    cst.GeneratorExp,
)  # fmt: skip
_CODING_COOKIE = re.compile(r"#.*?coding[:=][ \t]*([-\w.]+)")
_FILENAME = "<program>"
# The compiler's warnings about a program's source (invalid escapes, ...) are only noise here.
warnings.filterwarnings("ignore", module=re.escape(_FILENAME))


@dataclass(frozen=True)
class Violation:
    """One reason to reject a program."""

    rule: str  # short kebab-case rule id, e.g. "forbidden-import"
    line: int  # 1-based line in the source (0 when not tied to a line)
    message: str

    def __str__(self) -> str:
        return f"line {self.line}: {self.rule}: {self.message}"


# --- helpers over the syntax tree ------------------------------------------------------------


def _dotted_name(node: cst.CSTNode | None) -> str | None:
    """'a.b.c' for a chain of names and attributes, else None."""
    if isinstance(node, cst.Name):
        return node.value
    if isinstance(node, cst.Attribute):
        base = _dotted_name(node.value)
        return f"{base}.{node.attr.value}" if base else None
    return None


def _is_dunder(name: str) -> bool:
    return len(name) > 4 and name.startswith("__") and name.endswith("__")


def _all_params(params: cst.Parameters) -> list[cst.Param]:
    star = [params.star_arg] if isinstance(params.star_arg, cst.Param) else []
    kwargs = [params.star_kwarg] if params.star_kwarg else []
    return [*params.posonly_params, *params.params, *star, *params.kwonly_params, *kwargs]


def _block_items(block: cst.BaseSuite | Sequence[cst.BaseStatement]) -> list[cst.CSTNode]:
    """The statements of a body, with simple statement lines split into their small statements."""
    if isinstance(block, cst.SimpleStatementSuite):
        return list(block.body)
    statements = block.body if isinstance(block, cst.IndentedBlock) else block
    items: list[cst.CSTNode] = []
    for statement in statements:
        if isinstance(statement, cst.SimpleStatementLine):
            items.extend(statement.body)
        else:
            items.append(statement)
    return items


def _is_docstring(item: cst.CSTNode) -> bool:
    return isinstance(item, cst.Expr) and isinstance(
        item.value, (cst.SimpleString, cst.ConcatenatedString)
    )


def _target_names(target: cst.BaseExpression) -> Iterator[str]:
    """Names bound by an assignment target, through tuple and list unpacking."""
    if isinstance(target, cst.Name):
        yield target.value
    elif isinstance(target, (cst.Tuple, cst.List)):
        for element in target.elements:
            yield from _target_names(element.value)


def _comprehension_targets(expression: cst.BaseExpression) -> Iterator[str]:
    """Names bound by the comprehensions inside `expression` (they shadow builtins there)."""
    stack: list[cst.CSTNode] = [expression]
    while stack:
        node = stack.pop()
        if isinstance(node, cst.CompFor):
            yield from _target_names(node.target)
        stack.extend(node.children)


def _is_name_target(target: cst.BaseExpression) -> bool:
    if isinstance(target, (cst.Tuple, cst.List)):
        return all(_is_name_target(element.value) for element in target.elements)
    return isinstance(target, cst.Name)


def _import_bindings(node: cst.Import | cst.ImportFrom) -> Iterator[tuple[str, str | None]]:
    """(bound name, module it names) per alias; the module is None for `from m import name`."""
    if isinstance(node.names, cst.ImportStar):
        return
    is_import = isinstance(node, cst.Import)
    for alias in node.names:
        dotted = _dotted_name(alias.name) or ""
        if alias.asname is None:  # `import a.b` binds a
            top = dotted.split(".")[0]
            yield top, top if is_import else None
        else:
            yield alias.asname.name.value, dotted if is_import else None


def _statement_bindings(item: cst.CSTNode) -> Iterator[str]:
    """Names a top-level (small) statement binds in its scope."""
    if isinstance(item, (cst.FunctionDef, cst.ClassDef)):
        yield item.name.value
    elif isinstance(item, cst.Assign):
        for target in item.targets:
            yield from _target_names(target.target)
    elif isinstance(item, (cst.AnnAssign, cst.AugAssign)):
        yield from _target_names(item.target)
    elif isinstance(item, (cst.Import, cst.ImportFrom)):
        yield from (bound for bound, _ in _import_bindings(item))


def _snippet(module: cst.Module, node: cst.CSTNode, limit: int = 60) -> str:
    code = " ".join(module.code_for_node(node).split())
    return code if len(code) <= limit else code[: limit - 3] + "..."


@functools.cache
def _allowed_module(name: str) -> ModuleType:
    return importlib.import_module(name)


def _module_attribute_problem(module: str, attribute: str) -> str | None:
    """Why `module.attribute` may not be used by a program, or None when it may."""
    if attribute.startswith("_"):
        return "is private"
    if f"{module}.{attribute}" in DENIED_MODULE_ATTRIBUTES:
        return DENIED_MODULE_ATTRIBUTES[f"{module}.{attribute}"]
    if not hasattr(_allowed_module(module), attribute):
        return "does not exist"  # and `from package import name` would import a submodule
    if isinstance(getattr(_allowed_module(module), attribute), ModuleType):
        return "is a module"
    return None


def _format_fields(template: str) -> Iterator[str]:
    """Field names of a str.format template, including those nested in format specs."""
    for _, field, spec, _ in string.Formatter().parse(template):
        if field is not None:
            yield field
        if spec:
            yield from _format_fields(spec)


# --- rules -----------------------------------------------------------------------------------


class Rule:
    """One vetting rule. Its `visit_<Node>`/`leave_<Node>` methods (libcst's visitor naming) run
    during the one traversal shared by all rules; it collects findings: the offending node (None:
    the whole program) and a message."""

    rule: ClassVar[str]

    def __init__(self) -> None:
        self.findings: list[tuple[cst.CSTNode | None, str]] = []

    def report(self, node: cst.CSTNode | None, message: str) -> None:
        self.findings.append((node, message))


class EncodingDeclaration(Rule):
    """A coding cookie other than utf-8: a file-based loader would decode the program differently
    (utf-7 can hide a newline and code inside what this parser reads as a comment)."""

    rule = "encoding-declaration"

    def visit_Module(self, node: cst.Module) -> None:
        for line in node.header[:2]:
            match = line.comment and _CODING_COOKIE.match(line.comment.value)
            if match and match.group(1).lower().replace("_", "-") not in ("utf-8", "utf8"):
                self.report(line, f"encoding {match.group(1)!r} is not allowed; use utf-8")


class NonAsciiName(Rule):
    """Identifiers must be ASCII: Python NFKC-normalizes them, so 'ｅｖａｌ' would run as 'eval'
    and slip past every name-based rule."""

    rule = "non-ascii-name"

    def visit_Name(self, node: cst.Name) -> None:
        if not node.value.isascii():
            normal = unicodedata.normalize("NFKC", node.value)
            self.report(node, f"identifier {node.value!r} is not ASCII (Python reads {normal!r})")


class LabelSignature(Rule):
    """Exactly one top-level binding of `label`: a plain `def label(x)` with one positional
    parameter and no default, *args, keyword-only parameters, **kwargs, decorators or async."""

    rule = "label-signature"

    def visit_Module(self, node: cst.Module) -> None:
        items = _block_items(node.body)
        bindings = [item for item in items if "label" in _statement_bindings(item)]
        if not bindings:
            self.report(None, "no top-level 'def label(x)'")
            return
        first, *others = bindings
        for other in others:
            self.report(other, "'label' is defined more than once")
        if isinstance(first, cst.FunctionDef):
            self._check_definition(first)
        else:
            self.report(first, "'label' must be defined with 'def label(x)'")

    def _check_definition(self, definition: cst.FunctionDef) -> None:
        params = definition.params
        positional = [*params.posonly_params, *params.params]
        if definition.asynchronous:
            self.report(definition, "'label' must not be async")
        if definition.decorators:
            self.report(definition, "'label' must not be decorated")
        has_star = not isinstance(params.star_arg, cst.MaybeSentinel)
        if len(positional) != 1 or has_star or params.kwonly_params or params.star_kwarg:
            self.report(definition, "'label' must take exactly one positional parameter")
        elif positional[0].default is not None:
            self.report(definition, "the parameter of 'label' must not have a default")


class ForbiddenImport(Rule):
    """Imports only of top-level modules in ALLOWED_IMPORTS: no submodules, relative imports or
    star imports (which would bind names no rule can see)."""

    rule = "forbidden-import"

    def visit_Import(self, node: cst.Import) -> None:
        for alias in node.names:
            self._check(alias, _dotted_name(alias.name) or "")

    def visit_ImportFrom(self, node: cst.ImportFrom) -> None:
        if node.relative:
            self.report(node, "relative imports are not allowed")
            return
        if isinstance(node.names, cst.ImportStar):
            self.report(node, "star imports are not allowed; import names explicitly")
        self._check(node, _dotted_name(node.module) or "")

    def _check(self, node: cst.CSTNode, module: str) -> None:
        top = module.split(".")[0]
        if top not in ALLOWED_IMPORTS:
            allowed = ", ".join(sorted(ALLOWED_IMPORTS))
            self.report(node, f"import of {module!r} is not allowed (allowed: {allowed})")
        elif module != top:
            self.report(node, f"import of submodule {module!r} is not allowed; import {top!r}")


class ForbiddenName(Rule):
    """No use (or definition) of FORBIDDEN_NAMES: code execution, dynamic attribute access,
    namespace dicts, I/O, interpreter exits, and `type` (its 3-argument form builds classes)."""

    rule = "forbidden-name"

    def __init__(self) -> None:
        super().__init__()
        self._not_references: set[cst.Name] = set()

    def visit_Attribute(self, node: cst.Attribute) -> None:
        self._not_references.add(node.attr)

    def visit_Arg(self, node: cst.Arg) -> None:
        if node.keyword is not None:
            self._not_references.add(node.keyword)

    def visit_Name(self, node: cst.Name) -> None:
        if node.value in FORBIDDEN_NAMES and node not in self._not_references:
            self.report(node, f"use of {node.value!r} is not allowed")


class DunderAccess(Rule):
    """No dunder identifier anywhere (``x.__class__``, ``__builtins__``, ``def __init__``): they
    lead from any object to the interpreter's internals, and no labeling program needs one."""

    rule = "dunder-access"

    def visit_Name(self, node: cst.Name) -> None:
        if _is_dunder(node.value):
            self.report(node, f"dunder name {node.value!r} is not allowed")


class FrameAccess(Rule):
    """No FRAME_ATTRIBUTES (``gen.gi_frame.f_back.f_globals``), read as attributes or through
    class patterns (``case object(gi_frame=f)``): frames and code objects expose other modules'
    globals and builtins."""

    rule = "frame-access"

    def visit_Attribute(self, node: cst.Attribute) -> None:
        self._check(node.attr)

    def visit_MatchKeywordElement(self, node: cst.MatchKeywordElement) -> None:
        self._check(node.key)

    def _check(self, name: cst.Name) -> None:
        if name.value in FRAME_ATTRIBUTES:
            self.report(name, f"frame/code attribute {name.value!r} is not allowed")


class FormatString(Rule):
    """`.format`/`.format_map` only on a string literal whose fields read no attribute:
    ``"{0.__class__}".format(x)`` is attribute access hidden from every other rule."""

    rule = "format-string"

    def visit_Attribute(self, node: cst.Attribute) -> None:
        if node.attr.value not in ("format", "format_map"):
            return
        template = node.value
        is_literal = isinstance(template, (cst.SimpleString, cst.ConcatenatedString))
        value = template.evaluated_value if is_literal else None
        if not isinstance(value, str):
            self.report(node, f"'.{node.attr.value}' is allowed only on a string literal")
            return
        try:
            fields = list(_format_fields(value))
        except ValueError:
            self.report(node, "malformed format string")
            return
        for field in fields:
            if "." in field:
                self.report(node, f"format field {{{field}}} reads an attribute")


class GlobalStatement(Rule):
    """No `global`: functions may not rebind module names (label, modules, constants)."""

    rule = "global-statement"

    def visit_Global(self, node: cst.Global) -> None:
        self.report(node, "'global' is not allowed; keep state local to the function")


class AttributeWrite(Rule):
    """No assignment, augmented assignment or `del` through an imported name (``re.compile = f``,
    ``math.pi += 1``, ``del collections.Counter.x``): it would change the module for others."""

    rule = "attribute-write"

    def __init__(self) -> None:
        super().__init__()
        self._imported: set[str] = set()
        self._writes: list[tuple[cst.BaseExpression, str, str]] = []  # (target, root, verb)

    def visit_Import(self, node: cst.Import) -> None:
        self._imported.update(bound for bound, _ in _import_bindings(node))

    def visit_ImportFrom(self, node: cst.ImportFrom) -> None:
        self._imported.update(bound for bound, _ in _import_bindings(node))

    def visit_Assign(self, node: cst.Assign) -> None:
        for target in node.targets:
            self._check(target.target, "assignment to")

    def visit_AnnAssign(self, node: cst.AnnAssign) -> None:
        self._check(node.target, "assignment to")

    def visit_AugAssign(self, node: cst.AugAssign) -> None:
        self._check(node.target, "assignment to")

    def visit_For(self, node: cst.For) -> None:
        self._check(node.target, "assignment to")

    def visit_CompFor(self, node: cst.CompFor) -> None:
        self._check(node.target, "assignment to")

    def visit_WithItem(self, node: cst.WithItem) -> None:
        if node.asname is not None:
            self._check(node.asname.name, "assignment to")

    def visit_Del(self, node: cst.Del) -> None:
        self._check(node.target, "deletion of")

    def _check(self, target: cst.BaseExpression, verb: str) -> None:
        if isinstance(target, (cst.Tuple, cst.List)):
            for element in target.elements:
                self._check(element.value, verb)
            return
        root = target
        while isinstance(root, (cst.Attribute, cst.Subscript)):
            root = root.value
        if root is not target and isinstance(root, cst.Name):
            self._writes.append((target, root.value, verb))

    def leave_Module(self, original_node: cst.Module) -> None:
        for target, root, verb in self._writes:
            if root in self._imported:
                code = _snippet(original_node, target)
                self.report(target, f"{verb} {code!r} changes the imported {root!r}")


class ModuleAttribute(Rule):
    """An imported module is used only as ``module.name`` (never passed around, rebound or
    shadowed, which would hide what is accessed), and never for a private name, a module it
    imported itself (``statistics.sys``, ``re.enum``) or DENIED_MODULE_ATTRIBUTES; the same
    holds for ``from module import name``."""

    rule = "module-attribute"

    def __init__(self) -> None:
        super().__init__()
        self._modules: dict[str, str] = {}  # bound name -> allowed module it names
        self._accesses: list[cst.Attribute] = []  # name.attribute, resolved at the end
        self._uses: list[cst.Name] = []  # other names, resolved at the end
        self._not_references: set[cst.Name] = set()
        self._in_import = False  # import statements bind modules; their names are not uses

    def visit_Import(self, node: cst.Import) -> None:
        self._in_import = True
        for bound, module in _import_bindings(node):
            if module in ALLOWED_IMPORTS:
                self._modules[bound] = module

    def leave_Import(self, original_node: cst.Import) -> None:
        self._in_import = False

    def visit_ImportFrom(self, node: cst.ImportFrom) -> None:
        self._in_import = True
        module = _dotted_name(node.module)
        if module in ALLOWED_IMPORTS and not isinstance(node.names, cst.ImportStar):
            for alias in node.names:
                self._check(alias, module, alias.name.value)

    def leave_ImportFrom(self, original_node: cst.ImportFrom) -> None:
        self._in_import = False

    def visit_Attribute(self, node: cst.Attribute) -> None:
        self._not_references.add(node.attr)
        if isinstance(node.value, cst.Name) and not self._in_import:
            self._not_references.add(node.value)
            self._accesses.append(node)

    def visit_Arg(self, node: cst.Arg) -> None:
        if node.keyword is not None:
            self._not_references.add(node.keyword)

    def visit_Name(self, node: cst.Name) -> None:
        if not self._in_import and node not in self._not_references:
            self._uses.append(node)

    def leave_Module(self, original_node: cst.Module) -> None:
        for access in self._accesses:
            module = self._modules.get(access.value.value)
            if module is not None:
                self._check(access, module, access.attr.value)
        for name in self._uses:
            if name.value in self._modules:
                usage = f"'{name.value}.<name>'"
                self.report(name, f"module {name.value!r} may only be used as {usage}")

    def _check(self, node: cst.CSTNode, module: str, attribute: str) -> None:
        problem = _module_attribute_problem(module, attribute)
        if problem:
            self.report(node, f"'{module}.{attribute}' {problem}")


class ModuleLevelCode(Rule):
    """Importing a program runs no program code. Module and class bodies (class bodies run at
    import too) hold only imports (module only), def, class, `pass`, assignments to plain names
    and a docstring. The expressions evaluated at import (assigned values, annotations, default
    values, class bases, decorators) hold literals, names, attributes, operators, subscripts,
    comprehensions and lambdas, and call only IMPORT_TIME_CALLS or ``"<literal>".join``;
    decorators are only IMPORT_TIME_DECORATORS; classes take no keywords (``metaclass=``).
    Those callables count only while their names are not rebound at import time."""

    rule = "module-level-code"

    def visit_Module(self, node: cst.Module) -> None:
        self._module = node
        self._plain_imports: set[str] = set()
        self._rebound: set[str] = set()
        self._collect_bindings(_block_items(node.body))
        self._check_body(_block_items(node.body), "module")

    def _collect_bindings(self, items: Iterable[cst.CSTNode]) -> None:
        for item in items:
            if isinstance(item, cst.Import):
                for bound, module in _import_bindings(item):
                    (self._plain_imports if bound == module else self._rebound).add(bound)
            else:
                self._rebound.update(_statement_bindings(item))
            if isinstance(item, cst.ClassDef):
                self._collect_bindings(_block_items(item.body))

    def _check_body(self, items: list[cst.CSTNode], where: str) -> None:
        for index, item in enumerate(items):
            if (index == 0 and _is_docstring(item)) or isinstance(item, cst.Pass):
                continue
            if isinstance(item, (cst.Import, cst.ImportFrom)) and where == "module":
                continue
            if isinstance(item, cst.FunctionDef):
                self._check_function(item)
            elif isinstance(item, cst.ClassDef):
                self._check_class(item)
            elif isinstance(item, cst.Assign) and all(
                _is_name_target(target.target) for target in item.targets
            ):
                self._check_expression(item.value, "an assigned value")
            elif isinstance(item, cst.AnnAssign) and isinstance(item.target, cst.Name):
                self._check_expression(item.annotation.annotation, "an annotation")
                if item.value is not None:
                    self._check_expression(item.value, "an assigned value")
            else:
                kind = "expression" if isinstance(item, cst.Expr) else repr(type(item).__name__)
                self.report(
                    item,
                    f"{kind} statement at {where} level runs at import time; only imports, "
                    "def, class, constant assignments and a docstring may be outside functions",
                )

    def _check_function(self, definition: cst.FunctionDef) -> None:
        for decorator in definition.decorators:
            self._check_decorator(decorator)
        for param in _all_params(definition.params):
            if param.default is not None:
                self._check_expression(param.default, "a default value")
            if param.annotation is not None:
                self._check_expression(param.annotation.annotation, "an annotation")
        if definition.returns is not None:
            self._check_expression(definition.returns.annotation, "an annotation")

    def _check_class(self, definition: cst.ClassDef) -> None:
        for decorator in definition.decorators:
            self._check_decorator(decorator)
        for base in definition.bases:
            self._check_expression(base.value, "a class base")
        for keyword in definition.keywords:
            self.report(keyword, "class keywords (such as metaclass=) are not allowed")
        self._check_body(_block_items(definition.body), "class")

    def _check_decorator(self, decorator: cst.Decorator) -> None:
        expression = decorator.decorator
        call = expression if isinstance(expression, cst.Call) else None
        if not self._is_trusted(call.func if call else expression, IMPORT_TIME_DECORATORS):
            allowed = ", ".join(sorted(IMPORT_TIME_DECORATORS))
            code = _snippet(self._module, expression)
            self.report(decorator, f"decorator {code!r} runs at import time (allowed: {allowed})")
        elif call is not None:
            for arg in call.args:
                self._check_expression(arg.value, "a decorator argument")

    def _check_expression(self, expression: cst.BaseExpression, context: str) -> None:
        self._rebound.update(_comprehension_targets(expression))
        unsafe = self._first_unsafe(expression)
        if isinstance(unsafe, cst.Call):
            name = _dotted_name(unsafe.func)
            if name in IMPORT_TIME_CALLS:
                root = name.split(".")[0]
                reason = f"{root!r} is rebound" + (", or not imported" if "." in name else "")
            else:
                allowed = ", ".join(sorted(IMPORT_TIME_CALLS))
                reason = f"outside functions only {allowed} and '<str>.join' may be called"
            code = _snippet(self._module, unsafe)
            self.report(unsafe, f"call {code!r} in {context} runs at import time; {reason}")
        elif unsafe is not None:
            kind = type(unsafe).__name__
            self.report(unsafe, f"{kind} is not allowed in {context}, which runs at import time")

    def _first_unsafe(self, node: cst.CSTNode) -> cst.CSTNode | None:
        """The first part of `node` that could run program code when evaluated, if any."""
        children: Sequence[cst.CSTNode]
        if isinstance(node, cst.Call):
            if not (self._is_trusted(node.func, IMPORT_TIME_CALLS) or _is_literal_join(node.func)):
                return node
            children = node.args
        elif isinstance(node, cst.Lambda):
            children = [p.default for p in _all_params(node.params) if p.default is not None]
        elif isinstance(node, cst.BaseExpression) and not isinstance(node, _INERT_EXPRESSIONS):
            return node
        else:
            children = node.children
        for child in children:
            unsafe = self._first_unsafe(child)
            if unsafe is not None:
                return unsafe
        return None

    def _is_trusted(self, callee: cst.BaseExpression, allowed: frozenset[str]) -> bool:
        """`callee` names one of `allowed`, whose root is still the builtin or imported module."""
        name = _dotted_name(callee)
        if name not in allowed:
            return False
        root = name.split(".")[0]
        return root not in self._rebound and ("." in name) == (root in self._plain_imports)


def _is_literal_join(callee: cst.BaseExpression) -> bool:
    return (
        isinstance(callee, cst.Attribute)
        and callee.attr.value == "join"
        and isinstance(callee.value, (cst.SimpleString, cst.ConcatenatedString))
    )


RULES: tuple[type[Rule], ...] = (
    EncodingDeclaration,
    NonAsciiName,
    LabelSignature,
    ForbiddenImport,
    ForbiddenName,
    DunderAccess,
    FrameAccess,
    FormatString,
    GlobalStatement,
    AttributeWrite,
    ModuleAttribute,
    ModuleLevelCode,
)


# --- gates and entry point --------------------------------------------------------------------


def _syntax_depth(tree: ast.AST) -> int:
    deepest, stack = 0, [(tree, 1)]
    while stack:
        node, depth = stack.pop()
        deepest = max(deepest, depth)
        stack.extend((child, depth + 1) for child in ast.iter_child_nodes(node))
    return deepest


class _RuleRunner(cst.CSTVisitor):
    """One traversal that calls every rule's visit_/leave_ methods and counts the nodes."""

    def __init__(self, rules: Sequence[Rule]) -> None:
        super().__init__()
        self.nodes = 0
        self._rules = rules
        self._methods: dict[str, list[Callable[[cst.CSTNode], None]]] = {}

    def _dispatch(self, prefix: str, node: cst.CSTNode) -> None:
        name = prefix + type(node).__name__
        if name not in self._methods:
            self._methods[name] = [
                method for rule in self._rules if (method := getattr(rule, name, None))
            ]
        for method in self._methods[name]:
            method(node)

    def on_visit(self, node: cst.CSTNode) -> bool:
        self.nodes += 1
        self._dispatch("visit_", node)
        return True

    def on_leave(self, original_node: cst.CSTNode) -> None:
        self._dispatch("leave_", original_node)


def _parse(source: str) -> cst.Module | Violation:
    """The libcst tree of `source`, or the gate violation that stops vetting."""
    try:
        tree = ast.parse(source, _FILENAME)
    except (RecursionError, MemoryError):
        return Violation(TOO_LARGE, 0, "nesting is deeper than the parser allows")
    except SyntaxError as err:
        return Violation(SYNTAX_ERROR, err.lineno or 0, err.msg)
    except ValueError as err:  # null bytes, lone surrogates
        return Violation(SYNTAX_ERROR, 0, str(err))
    depth = _syntax_depth(tree)
    if depth > MAX_DEPTH:
        return Violation(TOO_LARGE, 0, f"nesting depth {depth} exceeds {MAX_DEPTH}")
    try:
        compile(tree, _FILENAME, "exec", dont_inherit=True)
        module = cst.parse_module(source)
    except SyntaxError as err:
        return Violation(SYNTAX_ERROR, err.lineno or 0, err.msg)
    except cst.ParserSyntaxError as err:
        return Violation(SYNTAX_ERROR, err.raw_line, err.message)
    return module


def vet(source: str, *, max_bytes: int = 20_000, max_nodes: int = 5_000) -> list[Violation]:
    """Every rule violation of `source`, sorted by (line, rule); empty means accepted.

    Never raises on bad input: unparsable source is a 'syntax-error' violation. The gates stop
    vetting early: 'too-large' (bytes, before parsing; nesting depth; CST node count) and
    'syntax-error' are then the only violation reported.
    """
    if not isinstance(source, str):
        return [Violation(SYNTAX_ERROR, 0, f"source must be str, not {type(source).__name__}")]
    size = len(source.encode("utf-8", "surrogatepass"))
    if size > max_bytes:
        return [Violation(TOO_LARGE, 0, f"source is {size} bytes (limit {max_bytes})")]
    parsed = _parse(source)
    if isinstance(parsed, Violation):
        return [parsed]
    rules = [rule_class() for rule_class in RULES]
    runner = _RuleRunner(rules)
    parsed.visit(runner)
    if runner.nodes > max_nodes:
        return [Violation(TOO_LARGE, 0, f"{runner.nodes} syntax nodes (limit {max_nodes})")]
    if not any(rule.findings for rule in rules):
        return []
    positions = MetadataWrapper(parsed, unsafe_skip_copy=True).resolve(PositionProvider)
    violations = [
        Violation(rule.rule, 0 if node is None else positions[node].start.line, message)
        for rule in rules
        for node, message in rule.findings
    ]
    return sorted(violations, key=lambda v: (v.line, v.rule))
