"""Static vetting of LLM-written labeling programs: the libcst layer of a defense in depth.

A program is one module defining ``def label(x) -> int``. `vet` checks the source against two
gates (it must parse, and not be too large) and then against every rule in `RULES`; an empty
result means the program may go on to the sandbox, which enforces its own limits at run time.

What a program may import, call and name is an allowlist, the program policy
(`alchemist_runtime.policy`, one JSON file that the sandbox worker reads too). Each thing is
decided by one rule (each rule's docstring has the details):

* imports: only the policy's modules (forbidden-import); ``module.name`` only for the names
  the policy lists for that module, through any alias (module-attribute);
* builtins: only the policy's builtins and exceptions, as names used or bound (forbidden-name);
  no other dunder identifier (dunder-access);
* attributes: none that starts with ``_`` or is in the policy's forbidden_attributes, on any
  object (forbidden-attribute); no attribute is ever assigned or deleted (attribute-write);
  none is read by a ``str.format`` field (format-string) or a keyword class pattern
  (match-keyword-pattern);
* no class statements (class-definition), no ``global`` (global-statement);
* importing runs only constant expressions (module-level-code);
* identifiers are ASCII (non-ascii-name), a coding cookie says utf-8 (encoding-declaration),
  and ``label`` is one plain function of one argument (label-signature).
"""

from __future__ import annotations

import ast
import builtins
import keyword
import re
import string
import unicodedata
import warnings
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import ClassVar

import libcst as cst
from alchemist_runtime.policy import Policy, load_policy
from libcst.metadata import MetadataWrapper, PositionProvider

MAX_DEPTH = 100  # deepest syntax nesting accepted (keeps every recursive pass far from its limit)
SYNTAX_ERROR = "syntax-error"
TOO_LARGE = "too-large"

BUILTIN_NAMES = frozenset(dir(builtins)) - frozenset(keyword.kwlist)  # True/False/None: keywords
STR_METHODS = frozenset(name for name in dir(str) if not name.startswith("_"))
IMPORT_TIME_DECORATORS = frozenset({"functools.cache", "functools.lru_cache"})
EFFECTFUL_BUILTINS = frozenset({"print"})  # not run at import time, even by a builtin like map
_IMPORT_TIME_EXPRESSIONS = (  # allowed at import time (calls: by callee, see ModuleLevelCode)
    cst.Name, cst.Attribute, cst.Integer, cst.Float, cst.Imaginary, cst.SimpleString,
    cst.ConcatenatedString, cst.FormattedString, cst.Ellipsis, cst.Tuple, cst.List, cst.Set,
    cst.Dict, cst.StarredElement, cst.UnaryOperation, cst.BinaryOperation, cst.BooleanOperation,
    cst.Comparison, cst.IfExp, cst.Subscript, cst.ListComp, cst.SetComp, cst.DictComp,
    cst.GeneratorExp, cst.Call,
)  # fmt: skip
_COMPREHENSIONS = (cst.ListComp, cst.SetComp, cst.DictComp, cst.GeneratorExp)
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


def _block_items(block: Sequence[cst.BaseStatement]) -> list[cst.CSTNode]:
    """The statements of a module body, with simple statement lines split into small statements."""
    items: list[cst.CSTNode] = []
    for statement in block:
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
    """Names bound by an assignment target, through tuple, list and star unpacking."""
    if isinstance(target, cst.Name):
        yield target.value
    elif isinstance(target, (cst.Tuple, cst.List)):
        for element in target.elements:
            yield from _target_names(element.value)
    elif isinstance(target, cst.StarredElement):
        yield from _target_names(target.value)


def _comprehension_targets(comprehension: cst.BaseComp) -> set[str]:
    """Names bound by the `for` clauses of one comprehension."""
    names: set[str] = set()
    clause: cst.CompFor | None = comprehension.for_in
    while clause is not None:
        names.update(_target_names(clause.target))
        clause = clause.inner_for_in
    return names


def _is_name_target(target: cst.BaseExpression) -> bool:
    return isinstance(target, cst.Name) or (
        isinstance(target, (cst.Tuple, cst.List))
        and all(_is_name_target(element.value) for element in target.elements)
    )


def _import_bindings(node: cst.Import | cst.ImportFrom) -> Iterator[tuple[str, str]]:
    """(bound name, dotted path it names) per alias: `import a.b` binds a to 'a', `import a.b as
    c` binds c to 'a.b', `from a import b as c` binds c to 'a.b'."""
    if isinstance(node.names, cst.ImportStar):
        return
    module = _dotted_name(node.module) if isinstance(node, cst.ImportFrom) else None
    for alias in node.names:
        dotted = _dotted_name(alias.name) or ""
        path = f"{module}.{dotted}" if module else dotted
        if alias.asname is not None:
            yield alias.asname.name.value, path
        elif module:
            yield dotted, path
        else:
            yield dotted.split(".")[0], dotted.split(".")[0]


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

    def __init__(self, policy: Policy) -> None:
        self.policy = policy
        self.findings: list[tuple[cst.CSTNode | None, str]] = []

    def report(self, node: cst.CSTNode | None, message: str) -> None:
        self.findings.append((node, message))


class IdentifierRule(Rule):
    """A rule about identifiers: it knows which Name nodes are not identifiers in scope but
    attribute names, keyword names or a name imported under an alias (`from m import name as
    alias`); `check_identifier` sees only the others."""

    def __init__(self, policy: Policy) -> None:
        super().__init__(policy)
        self._not_identifiers: set[cst.Name] = set()

    def visit_Attribute(self, node: cst.Attribute) -> None:
        self._not_identifiers.add(node.attr)

    def visit_Arg(self, node: cst.Arg) -> None:
        if node.keyword is not None:
            self._not_identifiers.add(node.keyword)

    def visit_MatchKeywordElement(self, node: cst.MatchKeywordElement) -> None:
        self._not_identifiers.add(node.key)

    def visit_ImportAlias(self, node: cst.ImportAlias) -> None:
        if node.asname is not None and isinstance(node.name, cst.Name):
            self._not_identifiers.add(node.name)

    def visit_Name(self, node: cst.Name) -> None:
        if node not in self._not_identifiers:
            self.check_identifier(node)

    def check_identifier(self, node: cst.Name) -> None:
        raise NotImplementedError


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
    """Imports only of the policy's modules (``import collections.abc`` and ``from collections
    import abc`` included), never relative and never ``*`` (which would bind names no rule sees)."""

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
        if module not in self.policy.modules:
            allowed = ", ".join(sorted(self.policy.modules))
            self.report(node, f"import of {module!r} is not allowed (allowed: {allowed})")


class ForbiddenName(IdentifierRule):
    """A builtin outside the policy's builtins and exceptions (``type``, ``object``, ``getattr``,
    ``eval``, ``open``, ``__import__``, ``SystemExit``, ...) is neither used nor bound: the
    sandbox does not provide it, and a program that names it is rejected here with the reason."""

    rule = "forbidden-name"

    def __init__(self, policy: Policy) -> None:
        super().__init__(policy)
        self._forbidden = BUILTIN_NAMES - policy.builtins - policy.exceptions

    def check_identifier(self, node: cst.Name) -> None:
        if node.value in self._forbidden:
            self.report(node, f"builtin {node.value!r} is not in the program policy")


class DunderAccess(IdentifierRule):
    """No other dunder identifier (``__builtins__``, ``def __init__``, ``__debug__`` is a builtin):
    they lead to the interpreter's internals and protocol hooks, and no labeling program needs
    one. (Dunder attributes are forbidden-attribute's, dunder builtins forbidden-name's.)"""

    rule = "dunder-access"

    def check_identifier(self, node: cst.Name) -> None:
        if _is_dunder(node.value) and node.value not in BUILTIN_NAMES:
            self.report(node, f"dunder name {node.value!r} is not allowed")


class ForbiddenAttribute(Rule):
    """No attribute whose name starts with ``_`` or is in the policy's forbidden_attributes
    (``mro``, frame, code and traceback attributes such as ``gi_frame``, ``f_globals``,
    ``tb_frame``), whatever the object: from any object these walk to classes, modules and the
    interpreter (``re.RegexFlag._convert_``, ``x.__class__.__mro__``)."""

    rule = "forbidden-attribute"

    def visit_Attribute(self, node: cst.Attribute) -> None:
        name = node.attr.value
        if name.startswith("_"):
            self.report(node.attr, f"attribute {name!r} starts with '_'")
        elif self.policy.forbids_attribute(name):
            self.report(node.attr, f"attribute {name!r} is forbidden on any object")


class ModuleAttribute(IdentifierRule):
    """A module is used only as ``module.name`` with a name the policy lists for it, whatever
    the alias (``import re as r``, ``from collections import abc``); ``from module import name``
    imports only listed names. A module is never passed around, rebound or shadowed, which would
    hide what is accessed. (Names starting with ``_`` are forbidden-attribute's.)"""

    rule = "module-attribute"

    def __init__(self, policy: Policy) -> None:
        super().__init__(policy)
        self._modules: dict[str, str] = {}  # bound name -> policy module it names
        self._accesses: list[cst.Attribute] = []  # resolved at the end
        self._uses: list[cst.Name] = []  # identifiers outside imports, resolved at the end
        self._attribute_bases: set[cst.CSTNode] = set()  # nodes used as `node.name`
        self._in_import = False  # import statements bind modules; their names are not uses

    def visit_Import(self, node: cst.Import) -> None:
        self._in_import = True
        for bound, module in _import_bindings(node):
            if module in self.policy.modules:
                self._modules[bound] = module

    def leave_Import(self, original_node: cst.Import) -> None:
        self._in_import = False

    def visit_ImportFrom(self, node: cst.ImportFrom) -> None:
        self._in_import = True
        module = _dotted_name(node.module)
        if module not in self.policy.modules or isinstance(node.names, cst.ImportStar):
            return
        for (bound, path), alias in zip(_import_bindings(node), node.names):
            if path in self.policy.modules:
                self._modules[bound] = path
            else:
                self._check(alias, module, path.rpartition(".")[2])

    def leave_ImportFrom(self, original_node: cst.ImportFrom) -> None:
        self._in_import = False

    def visit_Attribute(self, node: cst.Attribute) -> None:
        super().visit_Attribute(node)
        if not self._in_import:
            self._attribute_bases.add(node.value)
            self._accesses.append(node)

    def check_identifier(self, node: cst.Name) -> None:
        if not self._in_import:
            self._uses.append(node)

    def leave_Module(self, original_node: cst.Module) -> None:
        for access in self._accesses:
            module, name = self._module_of(access.value), access.attr.value
            submodule = f"{module}.{name}" in self.policy.modules
            if module and not submodule and not self.policy.forbids_attribute(name):
                self._check(access, module, name)
        bare = [name for name in self._uses if name.value in self._modules]
        bare += [access for access in self._accesses if self._module_of(access)]
        for node in bare:
            if node not in self._attribute_bases:
                code = _snippet(original_node, node)
                self.report(node, f"module {code!r} may only be used as '{code}.<name>'")

    def _module_of(self, node: cst.CSTNode) -> str | None:
        """The policy module `node` names (through import aliases), or None."""
        if isinstance(node, cst.Name):
            return self._modules.get(node.value)
        if isinstance(node, cst.Attribute):
            base = self._module_of(node.value)
            path = f"{base}.{node.attr.value}"
            return path if base and path in self.policy.modules else None
        return None

    def _check(self, node: cst.CSTNode, module: str, name: str) -> None:
        if name not in self.policy.modules[module]:
            self.report(node, f"'{module}.{name}' is not in the program policy")


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
    """No attribute is assigned (plain, augmented, annotated, as a loop or ``with`` target) or
    deleted, on any object: ``re.compile = f`` or ``c = collections.Counter; c.most_common = f``
    would change shared objects, and a labeling function needs only its own names and items."""

    rule = "attribute-write"

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
        elif isinstance(target, cst.StarredElement):
            self._check(target.value, verb)
        elif isinstance(target, cst.Attribute):
            self.report(target, f"{verb} attribute {target.attr.value!r} is not allowed")


class MatchKeywordPattern(Rule):
    """No keyword sub-pattern in a class pattern (``case C(attr=p)``): it reads the attribute
    ``attr`` of the subject, as a dot would, by a name that is not an attribute node."""

    rule = "match-keyword-pattern"

    def visit_MatchKeywordElement(self, node: cst.MatchKeywordElement) -> None:
        self.report(node, f"class pattern keyword {node.key.value!r}= reads an attribute")


class ClassDefinition(Rule):
    """No class statements: a class runs code when defined (its body, a metaclass or other class
    keyword, ``__init_subclass__``) and hooks into Python's protocols through dunder methods.
    Labeling functions need functions, dicts and tuples; the policy's builtins have no
    ``__build_class__`` to define a class with."""

    rule = "class-definition"

    def visit_ClassDef(self, node: cst.ClassDef) -> None:
        self.report(node, f"class {node.name.value!r}: programs may not define classes")


class ModuleLevelCode(Rule):
    """Importing a program runs only constant expressions. The module body holds imports,
    ``def``, ``pass``, assignments to plain names and a docstring. What runs at import (assigned
    values, default values, annotations, decorators) is built from literals, operators,
    displays, subscripts and comprehensions over names bound above (constants, imports) and
    policy builtins; it calls only imported policy names (``re.compile``), policy builtins and
    str methods (``"|".join``). No program function runs at import: neither ``def`` names nor
    lambdas may appear there, nor ``print`` (not even passed to ``map``). Decorators are only
    IMPORT_TIME_DECORATORS."""

    rule = "module-level-code"

    def visit_Module(self, node: cst.Module) -> None:
        self._module = node
        self._builtins = (self.policy.builtins | self.policy.exceptions) - EFFECTFUL_BUILTINS
        self._bound: dict[str, str] = {}  # name bound above -> constant, definition or import
        self._imports: dict[str, str] = {}  # imported name -> the dotted path it stands for
        for index, item in enumerate(_block_items(node.body)):
            if not ((index == 0 and _is_docstring(item)) or isinstance(item, cst.Pass)):
                self._check_statement(item)

    def _check_statement(self, item: cst.CSTNode) -> None:
        if isinstance(item, (cst.Import, cst.ImportFrom)):
            for bound, path in _import_bindings(item):
                self._bind([bound], "import")
                self._imports[bound] = path
        elif isinstance(item, cst.FunctionDef):
            self._check_function(item)
            self._bind([item.name.value], "definition")
        elif isinstance(item, cst.ClassDef):  # class-definition rejects it
            self._bind([item.name.value], "definition")
        elif isinstance(item, cst.Assign) and all(_is_name_target(t.target) for t in item.targets):
            self._check_expression(item.value, "an assigned value")
            self._bind([n for t in item.targets for n in _target_names(t.target)], "constant")
        elif isinstance(item, cst.AnnAssign) and isinstance(item.target, cst.Name):
            self._check_expression(item.annotation.annotation, "an annotation")
            if item.value is not None:
                self._check_expression(item.value, "an assigned value")
                self._bind([item.target.value], "constant")
        else:
            kind = "expression" if isinstance(item, cst.Expr) else repr(type(item).__name__)
            self.report(
                item,
                f"{kind} statement at module level runs at import time; only imports, def, "
                "constant assignments and a docstring may be outside functions",
            )

    def _bind(self, names: list[str], kind: str) -> None:
        for name in names:
            self._bound[name] = kind
            self._imports.pop(name, None)

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

    def _check_decorator(self, decorator: cst.Decorator) -> None:
        expression = decorator.decorator
        call = expression if isinstance(expression, cst.Call) else None
        if self._import_path(call.func if call else expression) not in IMPORT_TIME_DECORATORS:
            allowed = ", ".join(sorted(IMPORT_TIME_DECORATORS))
            code = _snippet(self._module, expression)
            self.report(decorator, f"decorator {code!r} runs at import time (allowed: {allowed})")
        elif call is not None:
            for arg in call.args:
                self._check_expression(arg.value, "a decorator argument")

    def _import_path(self, node: cst.BaseExpression) -> str | None:
        """The dotted path `node` stands for through the imports above, e.g. 'functools.cache'."""
        name = _dotted_name(node)
        root, _, rest = (name or "").partition(".")
        if root not in self._imports:
            return None
        return f"{self._imports[root]}.{rest}" if rest else self._imports[root]

    def _check_expression(self, expression: cst.BaseExpression, context: str) -> None:
        found = self._first_unsafe(expression, frozenset())
        if found is not None:
            node, reason = found
            code = _snippet(self._module, node)
            self.report(node, f"{code!r} in {context} runs at import time: {reason}")

    def _first_unsafe(
        self, node: cst.CSTNode, scope: frozenset[str]
    ) -> tuple[cst.CSTNode, str] | None:
        """The first part of `node` that could run program code when evaluated, and why.
        `scope`: the names bound by the comprehensions around `node`."""
        children: Sequence[cst.CSTNode]
        if isinstance(node, cst.Name):
            return self._name_problem(node, scope)
        if isinstance(node, cst.BaseExpression) and not isinstance(node, _IMPORT_TIME_EXPRESSIONS):
            return node, f"{type(node).__name__} is not allowed outside functions"
        if isinstance(node, cst.Call):
            problem = self._callee_problem(node.func, scope)
            if problem is not None:
                return node, problem
            callee = [node.func.value] if isinstance(node.func, cst.Attribute) else []
            children = [*callee, *(arg.value for arg in node.args)]
        elif isinstance(node, cst.Attribute):
            children = [node.value]
        elif isinstance(node, _COMPREHENSIONS):
            scope = scope | _comprehension_targets(node)
            children = node.children
        elif isinstance(node, cst.CompFor):  # its target binds names, it does not read them
            children = [node.iter, *node.ifs, *([node.inner_for_in] if node.inner_for_in else [])]
        else:
            children = node.children
        for child in children:
            found = self._first_unsafe(child, scope)
            if found is not None:
                return found
        return None

    def _name_problem(self, node: cst.Name, scope: frozenset[str]) -> tuple[cst.Name, str] | None:
        name = node.value
        kind = "constant" if name in scope or keyword.iskeyword(name) else self._bound.get(name)
        if kind in ("constant", "import") or (kind is None and name in self._builtins):
            return None
        if kind == "definition":
            return node, f"{name!r} is defined by the program, whose code may not run at import"
        if name in EFFECTFUL_BUILTINS:
            return node, f"{name!r} may not run at import time"
        return node, f"{name!r} is not a constant, import or allowed builtin bound above"

    def _callee_problem(self, callee: cst.BaseExpression, scope: frozenset[str]) -> str | None:
        """Why calling `callee` at import time could run program code, or None."""
        root = (_dotted_name(callee) or "").partition(".")[0]
        if root and root not in scope:
            kind = self._bound.get(root)
            if kind == "import":
                return None  # an imported policy name (module-attribute checks which)
            if kind is None and isinstance(callee, cst.Name) and root in self._builtins:
                return None
        if isinstance(callee, cst.Attribute) and callee.attr.value in STR_METHODS:
            return None
        return ("outside functions only imported policy names, builtins other than "
                f"{', '.join(sorted(EFFECTFUL_BUILTINS))} and str methods may be called")


RULES: tuple[type[Rule], ...] = (
    EncodingDeclaration,
    NonAsciiName,
    LabelSignature,
    ForbiddenImport,
    ForbiddenName,
    DunderAccess,
    ForbiddenAttribute,
    ModuleAttribute,
    FormatString,
    GlobalStatement,
    AttributeWrite,
    MatchKeywordPattern,
    ClassDefinition,
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


def vet(
    source: str, *, policy: Policy | None = None, max_bytes: int = 20_000, max_nodes: int = 5_000
) -> list[Violation]:
    """Every rule violation of `source`, sorted by (line, rule); empty means accepted.

    `policy` defaults to the program policy (runtime/program_policy.json). Never raises on bad
    input: unparsable source is a 'syntax-error' violation. The gates stop
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
    policy = policy or load_policy()
    rules = [rule_class(policy) for rule_class in RULES]
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
