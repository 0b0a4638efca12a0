"""Compile-time rewriting: a vetted program's source -> a faster, semantically equal, readable one.

Rewrites, each only where it is exactly equivalent by construction:
  - `re.compile(CONST)` and `re.search(CONST, s)` (match, fullmatch, findall, finditer, sub,
    split) in any function, with constant patterns and flags: compiled once at module level;
  - the same calls with a pattern built from variables by `+`, f-strings and `re.escape`
    (`re.search(r"\b" + re.escape(word) + r"\b", s)` in a loop over keywords): compiled once
    per distinct value, by an lru_cache'd function of those variables; where the pattern is
    `re.escape(word)` in a plain sequence (constant regexes before and after it, no top-level
    `|`, no inline flags, no IGNORECASE or VERBOSE), it can only match where `word` occurs, so search/match/fullmatch/findall run only when
    `s.find(word) >= 0` (which, like the regex, raises on a non-string `s`);
  - constant lists, sets and tuples bound once at the top of `label` and only read (membership,
    iteration, builtins): bound once at module level;
  - `any(k in s for k in CONST_STRINGS)`, s a string derived from the input: one compiled
    alternation, `ALTERNATION.search(s) is not None`;
  - `P.search(s)` (match, fullmatch, findall), P a module-level case-insensitive pattern that
    nothing in it makes case-dependent (case_fold.py) and s a plain name: on an ASCII str, a
    case-sensitive copy of P is tried on `s.lower()` first, and P runs only where the copy
    matches;
  - memoization of repeated identical inputs (text only): `label` calls an lru_cache'd copy.
The rewritten source is vetted again, and `speed_up.py` keeps it only where its votes are
identical to the original's on the probe inputs and on every row of every split.
"""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass

import libcst as cst

from .case_fold import foldable

RE_FUNCTIONS = {"compile": 1, "search": 2, "match": 2, "fullmatch": 2, "findall": 2,
                "finditer": 2, "sub": 3, "split": 2}  # name -> positional args it takes here
STR_METHODS = {"lower", "upper", "casefold", "strip", "lstrip", "rstrip", "replace", "title"}
READ_ONLY_CALLS = {"len", "sorted", "set", "frozenset", "tuple", "list", "any", "all", "sum",
                   "min", "max", "enumerate", "zip", "map", "filter", "reversed"}
MEMO_SIZE = 4096
PATTERN_CACHE_SIZE = 4096  # distinct built patterns a program keeps compiled
NO_MATCH = {"search": "None", "match": "None", "fullmatch": "None", "findall": "[]"}
FOLDED_TRY = {"search": "search", "match": "match", "fullmatch": "fullmatch", "findall": "search"}
MAY_MATCH = """(folded_try, text):
    \"\"\"False only when text is an ASCII str on which a case-insensitive pattern cannot match,
    as its case-sensitive copy (folded_try) shows on text.lower().\"\"\"
    return not isinstance(text, str) or not str.isascii(text) or folded_try(str.lower(text)) is not None
"""


@dataclass(frozen=True)
class Rewrite:
    source: str
    changes: tuple[str, ...]  # what was rewritten, for the program's header


def optimize(source: str, *, text_input: bool, memoize: bool) -> Rewrite | None:
    """The rewritten source and what changed, or None when nothing applies."""
    module = cst.parse_module(source)
    tree = ast.parse(source)
    label = next((n for n in tree.body if isinstance(n, ast.FunctionDef) and n.name == "label"),
                 None)
    if label is None or len(label.args.args) != 1:
        return None
    names = _Names(tree)
    functools_usable = _imports(module, "functools") or "functools" not in names.taken
    re_alias = _re_alias(tree)
    rewriter = _Rewriter(names, re_alias, label, text_input, _module_string_constants(tree),
                         functools_usable, _foldable_patterns(tree, re_alias))
    module = module.visit(rewriter)
    changes = rewriter.describe()
    memoized = bool(memoize and text_input and functools_usable
                    and names.fresh("memoized_label", exact=True))
    if memoized:
        module = _memoized(module, label.args.args[0].arg)
        changes.append(f"memoized label ({MEMO_SIZE} most recent inputs)")
    if not changes:
        return None
    imports = ["re"] * rewriter.needs_re + ["functools"] * (memoized or bool(rewriter.builders))
    helpers = [f"@functools.lru_cache(maxsize={PATTERN_CACHE_SIZE})\ndef {name}{definition}"
               for definition, name in rewriter.builders.items()]
    helpers += [f"def {rewriter.may_match}{MAY_MATCH}"] * bool(rewriter.may_match)
    module = _with_constants(module, rewriter.constants, helpers, imports)
    return Rewrite(_after_anchors(module, rewriter.anchored).code, tuple(changes))


class _Names:
    """Every identifier in the module, to make fresh module-level names."""

    def __init__(self, tree: ast.Module) -> None:
        self.taken = {n.id for n in ast.walk(tree) if isinstance(n, ast.Name)}
        self.taken |= {n.name for n in ast.walk(tree) if isinstance(n, ast.FunctionDef)}
        self.taken |= {a.arg for n in ast.walk(tree) if isinstance(n, ast.arguments)
                       for a in n.args + n.kwonlyargs}
        self.taken |= {(a.asname or a.name).split(".")[0] for n in ast.walk(tree)
                       if isinstance(n, ast.Import | ast.ImportFrom) for a in n.names}

    def fresh(self, base: str, exact: bool = False) -> str | None:
        candidates = [base] if exact else [base] + [f"{base}_{i}" for i in range(2, 100)]
        name = next((c for c in candidates if c not in self.taken), None)
        if name is not None:
            self.taken.add(name)
        return name


def _re_alias(tree: ast.Module) -> str | None:
    """The name `re` is imported as at module level (None: not imported, or rebound)."""
    aliases = [a.asname or a.name for n in tree.body if isinstance(n, ast.Import)
               for a in n.names if a.name == "re"]
    if len(aliases) != 1:
        return None
    stores = [n for n in ast.walk(tree) if isinstance(n, ast.Name) and n.id == aliases[0]
              and not isinstance(n.ctx, ast.Load)]
    return None if stores else aliases[0]


def _literal(node: ast.AST):
    try:
        return ast.literal_eval(node)
    except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
        return _NOT_CONSTANT


_NOT_CONSTANT = object()


def _constant_collection(node: ast.AST) -> bool:
    """A list, set or tuple literal of immutable constants."""
    if not isinstance(node, ast.List | ast.Set | ast.Tuple) or not node.elts:
        return False
    value = _literal(node)
    return value is not _NOT_CONSTANT and all(_immutable(v) for v in value)


def _immutable(value) -> bool:
    if isinstance(value, tuple):
        return all(map(_immutable, value))
    return isinstance(value, str | bytes | int | float | complex | bool | type(None))


def _bindings(scope: ast.AST, name: str) -> list[ast.AST]:
    """Nodes that bind `name` anywhere under `scope` (assignments, loops, parameters, ...)."""
    found = [n for n in ast.walk(scope) if isinstance(n, ast.Name) and n.id == name
             and not isinstance(n.ctx, ast.Load)]
    found += [a for n in ast.walk(scope) if isinstance(n, ast.arguments)
              for a in n.args + n.kwonlyargs + n.posonlyargs if a.arg == name]
    found += [n for n in ast.walk(scope) if isinstance(n, ast.Global | ast.Nonlocal)
              and name in n.names]
    found += [n for n in ast.walk(scope) if isinstance(
        n, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef | ast.ExceptHandler
        | ast.MatchAs | ast.MatchStar) and n.name == name]
    found += [n for n in ast.walk(scope) if isinstance(n, ast.MatchMapping) and n.rest == name]
    found += [a for n in ast.walk(scope) if isinstance(n, ast.Import | ast.ImportFrom)
              for a in n.names if (a.asname or a.name).split(".")[0] == name]
    return found


def _read_only_uses(scope: ast.AST, name: str) -> bool:
    """Every load of `name` under `scope` only reads the collection."""
    parents = {child: parent for parent in ast.walk(scope) for child in ast.iter_child_nodes(parent)}
    for node in ast.walk(scope):
        if not (isinstance(node, ast.Name) and node.id == name and isinstance(node.ctx, ast.Load)):
            continue
        parent = parents.get(node)
        if isinstance(parent, ast.Compare) and node in parent.comparators and all(
                isinstance(op, ast.In | ast.NotIn) for op in parent.ops):
            continue
        if isinstance(parent, ast.For | ast.comprehension) and parent.iter is node:
            continue
        if isinstance(parent, ast.Call) and node in parent.args and (
                isinstance(parent.func, ast.Name) and parent.func.id in READ_ONLY_CALLS
                or isinstance(parent.func, ast.Attribute) and parent.func.attr == "join"
                and isinstance(parent.func.value, ast.Constant)):
            continue
        return False
    return True


class _Rewriter(cst.CSTTransformer):
    """Rewrites inside functions (collections and alternations: inside `label`); collects the
    module-level constants and pattern builders it introduces."""

    def __init__(self, names: _Names, re_alias: str | None, label: ast.FunctionDef,
                 text_input: bool, module_strings: set[str], functools_usable: bool,
                 foldable_patterns: set[str]) -> None:
        self.names, self.re_alias, self.text_input = names, re_alias, text_input
        self.module_strings = module_strings  # names of module-level constant string lists
        self.functools_usable = functools_usable
        self.parameter = label.args.args[0].arg
        self.constants: list[tuple[str, str]] = []  # (name, expression code), in order
        self.patterns: dict[str, str] = {}  # re.compile code -> its module-level name
        self.builders: dict[str, str] = {}  # pattern builder's source -> its name
        self.foldable = foldable_patterns  # module-level case-insensitive patterns (case_fold)
        self.folded: dict[str, str] = {}  # pattern name -> its case-sensitive copy's name
        self.anchored: list[tuple[str, str, str]] = []  # (after name, name, code) at module level
        self.may_match: str | None = None  # the MAY_MATCH helper's name, once used
        self.counts = {"patterns": 0, "built": 0, "guarded": 0, "collections": 0,
                       "alternations": 0, "folded": 0}
        self.hoisted = self._hoistable_locals(label)  # local -> module-level name
        self.strings = self._string_locals(label)
        self.needs_re = False
        self.function_depth = 0  # > 0 inside any function
        self.label_depth = 0  # > 0 inside label

    # -- what can be hoisted -------------------------------------------------------------
    def _hoistable_locals(self, label: ast.FunctionDef) -> dict[str, str]:
        hoisted = {}
        for position, statement in enumerate(label.body):
            if not (isinstance(statement, ast.Assign) and len(statement.targets) == 1
                    and isinstance(statement.targets[0], ast.Name)
                    and _constant_collection(statement.value)):
                continue
            local = statement.targets[0].id
            earlier = ast.Module(label.body[:position], [])
            used_before = any(isinstance(n, ast.Name) and n.id == local for n in ast.walk(earlier))
            if (len(_bindings(label, local)) == 1 and not used_before
                    and _read_only_uses(label, local)):
                hoisted[local] = self.names.fresh(local.upper())
        return {local: name for local, name in hoisted.items() if name}

    def _string_locals(self, label: ast.FunctionDef) -> set[str]:
        """Locals bound once, at the top of label, to a str derived from the input."""
        strings = {self.parameter} if self.text_input else set()
        for statement in label.body:
            if (isinstance(statement, ast.Assign) and len(statement.targets) == 1
                    and isinstance(statement.targets[0], ast.Name)
                    and len(_bindings(label, statement.targets[0].id)) == 1
                    and self._is_string(statement.value, strings)):
                strings.add(statement.targets[0].id)
        return strings

    def _is_string(self, node: ast.AST, strings: set[str]) -> bool:
        if isinstance(node, ast.Name):
            return node.id in strings
        return (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
                and node.func.attr in STR_METHODS and not node.keywords
                and all(isinstance(a, ast.Constant) and isinstance(a.value, str) for a in node.args)
                and self._is_string(node.func.value, strings))

    # -- the transformation ----------------------------------------------------------------
    def visit_FunctionDef(self, node: cst.FunctionDef) -> bool:
        self.function_depth += 1
        if self.label_depth or (self.function_depth == 1 and node.name.value == "label"):
            self.label_depth += 1
        return True

    def leave_FunctionDef(self, original: cst.FunctionDef, updated: cst.FunctionDef):
        self.function_depth -= 1
        if not self.label_depth:
            return updated
        self.label_depth -= 1
        if self.label_depth or not self.hoisted:
            return updated
        hoisted = set(self.hoisted.values())
        body = [s for s in updated.body.body if _assigned_name(s) not in hoisted]
        return updated.with_changes(body=updated.body.with_changes(body=body))

    def leave_SimpleStatementLine(self, original, updated):
        local = _assigned_name(original)
        if self.label_depth == 1 and local in self.hoisted:
            value = updated.body[0].value
            self.constants.append((self.hoisted[local], _code(value)))
            self.counts["collections"] += 1
        return updated

    def leave_Name(self, original: cst.Name, updated: cst.Name) -> cst.Name:
        if self.label_depth and updated.value in self.hoisted:
            return updated.with_changes(value=self.hoisted[updated.value])
        return updated

    def leave_Attribute(self, original: cst.Attribute, updated: cst.Attribute):
        # attribute names are not variables: undo a rename leave_Name made to `.attr`
        return updated.with_changes(attr=original.attr)

    def leave_Arg(self, original: cst.Arg, updated: cst.Arg) -> cst.Arg:
        return updated.with_changes(keyword=original.keyword)

    def leave_Call(self, original: cst.Call, updated: cst.Call) -> cst.BaseExpression:
        if not self.function_depth:
            return updated
        return (self._regex_call(updated) or self._folded_call(updated)
                or (self.label_depth and self._alternation(original, updated)) or updated)

    def _regex_call(self, call: cst.Call) -> cst.BaseExpression | None:
        func = call.func
        if not (self.re_alias and isinstance(func, cst.Attribute)
                and isinstance(func.value, cst.Name) and func.value.value == self.re_alias
                and func.attr.value in RE_FUNCTIONS):
            return None
        arity = RE_FUNCTIONS[func.attr.value]
        args = list(call.args)
        if any(a.star or a.keyword for a in args) or not arity <= len(args) <= arity + (
                func.attr.value != "sub" and func.attr.value != "split"):
            return None
        flags = args[arity] if len(args) > arity else None
        pattern = args[0].value
        compiled = f"{self.re_alias}.compile({_code(pattern)}" + (
            f", {_code(flags.value)})" if flags else ")")
        constant = self._constant_regex(pattern, flags.value if flags else None)
        if constant:
            replacement = self._constant_pattern(compiled)
            if replacement is not None and foldable(*constant):
                self.foldable.add(replacement.value)
        else:
            replacement = self._built_pattern(pattern, flags.value if flags else None, compiled)
        if replacement is None:
            return None
        if func.attr.value == "compile":
            return replacement
        rest = [a.with_changes(comma=cst.MaybeSentinel.DEFAULT) for a in args[1:arity]]
        call = cst.Call(cst.Attribute(replacement, cst.Name(func.attr.value)), rest)
        if constant:
            return self._folded_call(call) or call
        guard = None if constant else self._substring_guard(func.attr.value, pattern, flags, args)
        return cst.parse_expression(guard.format(_code(call))) if guard else call

    def _substring_guard(self, function: str, pattern: cst.BaseExpression,
                         flags: cst.Arg | None, args: list[cst.Arg]) -> str | None:
        """`({} if s.find(word) >= 0 else <no match>)` when the pattern can only match where
        the variable `word` occurs in `s` (a plain name, so evaluating it twice is safe)."""
        haystack = args[1].value
        flag_value = self._flags(flags.value if flags else None)
        word = _escaped_word(ast.parse(_code(pattern), mode="eval").body, self.re_alias)
        if (function not in NO_MATCH or word is None or not isinstance(haystack, cst.Name)
                or flag_value is None or flag_value & (re.IGNORECASE | re.VERBOSE)):
            return None
        self.counts["guarded"] += 1
        return f"({{}} if {haystack.value}.find({word}) >= 0 else {NO_MATCH[function]})"

    def _constant_pattern(self, compiled: str) -> cst.BaseExpression | None:
        """The module-level name of the compiled constant pattern."""
        name = self.patterns.get(compiled)
        if name is None:
            name = self.patterns[compiled] = self.names.fresh("PATTERN")
            if name is None:
                return None
            self.constants.append((name, compiled))
        self.counts["patterns"] += 1
        return cst.Name(name)

    def _built_pattern(self, pattern: cst.BaseExpression, flags: cst.BaseExpression | None,
                       compiled: str) -> cst.BaseExpression | None:
        """A call of the lru_cache'd builder of a pattern made from variables (constant flags)."""
        variables = _pattern_variables(ast.parse(_code(pattern), mode="eval").body, self.re_alias)
        if not variables or not self.functools_usable or self._flags(flags) is None:
            return None
        parameters = ", ".join(variables)
        body = f"({parameters}):\n    return {compiled}\n"
        name = self.builders.get(body)
        if name is None:
            name = self.names.fresh("compiled_pattern")
            if name is None:
                return None
            self.builders[body] = name
        self.counts["built"] += 1
        return cst.parse_expression(f"{name}({parameters})")

    def _constant_regex(self, pattern: cst.BaseExpression,
                        flags: cst.BaseExpression | None) -> tuple[str, int] | None:
        """(pattern, flags) when the pattern is a constant str that compiles with constant
        flags, else None."""
        value = _literal(ast.parse(_code(pattern), mode="eval").body)
        flag_value = self._flags(flags)
        if not isinstance(value, str) or flag_value is None:
            return None
        try:
            re.compile(value, flag_value)
        except (re.error, OverflowError, RecursionError):
            return None
        return value, flag_value

    def _flags(self, flags: cst.BaseExpression | None) -> int | None:
        """The value of constant flags (0 when absent), else None."""
        return 0 if flags is None else _flag_value(ast.parse(_code(flags), mode="eval").body,
                                                   self.re_alias)

    def _folded_call(self, call: cst.Call) -> cst.BaseExpression | None:
        """`P.search(s)` -> `(P.search(s) if may_match(P_FOLDED.search, s) else None)`, P a
        case_fold.foldable module-level pattern, s a plain name (evaluated twice)."""
        func = call.func
        if not (self.function_depth and isinstance(func, cst.Attribute)
                and isinstance(func.value, cst.Name) and func.value.value in self.foldable
                and func.attr.value in FOLDED_TRY and len(call.args) == 1
                and not call.args[0].star and not call.args[0].keyword
                and isinstance(call.args[0].value, cst.Name)):
            return None
        pattern, text = func.value.value, call.args[0].value.value
        folded, may_match = self._folded_names(pattern)
        if folded is None or may_match is None:
            return None
        self.counts["folded"] += 1
        method = func.attr.value
        return cst.parse_expression(
            f"({_code(call)} if {may_match}({folded}.{FOLDED_TRY[method]}, {text}) "
            f"else {NO_MATCH[method]})")

    def _folded_names(self, pattern: str) -> tuple[str | None, str | None]:
        """The names of the pattern's case-sensitive copy (made right after the pattern) and of
        the may_match helper, made on first use."""
        folded = self.folded.get(pattern)
        if folded is None:
            folded = self.names.fresh(f"{pattern}_FOLDED")
            if folded is None:
                return None, None
            self.folded[pattern] = folded
            copy = (f"{self.re_alias}.compile({pattern}.pattern, "
                    f"{pattern}.flags & ~{self.re_alias}.IGNORECASE)")
            self.anchored.append((pattern, folded, copy))
        if self.may_match is None:
            self.may_match = self.names.fresh("may_match")
        return folded, self.may_match

    def _alternation(self, original: cst.Call, updated: cst.Call) -> cst.BaseExpression | None:
        """any(k in s for k in CONST_STRINGS) -> ALTERNATION.search(s) is not None."""
        if not self.text_input:
            return None
        node = ast.parse(_code(original), mode="eval").body
        sequence = self._any_substring(node)
        if sequence is None or self.re_alias not in (None, "re"):
            return None
        haystack = _code(updated.args[0].value.elt.comparisons[0].comparator)
        if isinstance(sequence, str):
            keywords = sequence
        else:
            keywords = self.names.fresh("KEYWORDS")
            if keywords is None:
                return None
            self.constants.append((keywords, _code(updated.args[0].value.for_in.iter)))
        name = self.names.fresh("ALTERNATION")
        if name is None:
            return None
        self.constants.append((name, f're.compile("|".join(map(re.escape, {keywords})))'))
        self.needs_re = True
        self.counts["alternations"] += 1
        return cst.parse_expression(f"{name}.search({haystack}) is not None")

    def _any_substring(self, node: ast.AST):
        """The constant strings of `any(k in s for k in ...)` (a literal, or a name bound to
        one at module level), or None."""
        if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Name)
                and node.func.id == "any" and len(node.args) == 1 and not node.keywords
                and isinstance(node.args[0], ast.GeneratorExp)):
            return None
        generator = node.args[0]
        if len(generator.generators) != 1:
            return None
        loop, test = generator.generators[0], generator.elt
        if (loop.ifs or loop.is_async or not isinstance(loop.target, ast.Name)
                or not isinstance(test, ast.Compare) or len(test.ops) != 1
                or not isinstance(test.ops[0], ast.In) or not isinstance(test.left, ast.Name)
                or test.left.id != loop.target.id
                or not self._is_string(test.comparators[0], self.strings)):
            return None
        sequence = loop.iter
        if isinstance(sequence, ast.Name):
            return sequence.id if sequence.id in self.module_strings else None
        value = _literal(sequence) if _constant_collection(sequence) else _NOT_CONSTANT
        if value is _NOT_CONSTANT or not all(isinstance(v, str) for v in value):
            return None
        return sequence

    def describe(self) -> list[str]:
        patterns, built, guarded, collections, alternations, folded = self.counts.values()
        changes = []
        if patterns:
            changes.append(f"{patterns} constant regex pattern(s) compiled once, out of label")
        if built:
            changes.append(f"{built} regex pattern(s) built from variables compiled once per "
                           f"distinct value (up to {PATTERN_CACHE_SIZE})")
        if guarded:
            changes.append(f"{guarded} of them tried only when their escaped word occurs in the "
                           "string")
        if collections:
            changes.append(f"{collections} constant collection(s) built once, out of label")
        if alternations:
            changes.append(f"{alternations} any(k in s for k in ...) test(s) made one compiled "
                           "alternation")
        if folded:
            changes.append(f"{folded} case-insensitive regex call(s) tried first as a "
                           "case-sensitive copy on the lowercased text (ASCII text only)")
        return changes


def _module_string_constants(tree: ast.Module) -> set[str]:
    """Module-level names bound once to a literal of strings and only read."""
    found = set()
    for statement in tree.body:
        if (isinstance(statement, ast.Assign) and len(statement.targets) == 1
                and isinstance(statement.targets[0], ast.Name)
                and _constant_collection(statement.value)
                and all(isinstance(v, str) for v in _literal(statement.value))):
            name = statement.targets[0].id
            if len(_bindings(tree, name)) == 1 and _read_only_uses(tree, name):
                found.add(name)
    return found


def _foldable_patterns(tree: ast.Module, re_alias: str | None) -> set[str]:
    """Names bound once, at module level, to `re.compile(PATTERN, FLAGS)` with a constant str
    pattern (literals, `+`, f-strings, names of such) and flags, case_fold.foldable."""
    found = set()
    for statement in tree.body if re_alias else ():
        value = statement.value if isinstance(statement, ast.Assign) else None
        if not (isinstance(value, ast.Call) and isinstance(value.func, ast.Attribute)
                and isinstance(value.func.value, ast.Name) and value.func.value.id == re_alias
                and value.func.attr == "compile" and len(value.args) == 2 and not value.keywords
                and len(statement.targets) == 1 and isinstance(statement.targets[0], ast.Name)):
            continue
        name = statement.targets[0].id
        pattern = _module_string(value.args[0], tree)
        flags = _flag_value(value.args[1], re_alias)
        if (len(_bindings(tree, name)) == 1 and pattern is not None and flags is not None
                and foldable(pattern, flags)):
            found.add(name)
    return found


def _module_string(node: ast.AST, tree: ast.Module, depth: int = 0) -> str | None:
    """The value of a str expression made of literals, `+`, plain f-string fields and names
    bound once, at module level, to such expressions; else None."""
    if depth > 50:
        return None
    if isinstance(node, ast.Constant):
        return node.value if isinstance(node.value, str) else None
    if isinstance(node, ast.Name):
        value = next((s.value for s in tree.body if isinstance(s, ast.Assign)
                      and len(s.targets) == 1 and isinstance(s.targets[0], ast.Name)
                      and s.targets[0].id == node.id), None)
        if value is None or len(_bindings(tree, node.id)) != 1:
            return None
        return _module_string(value, tree, depth + 1)
    parts = _concatenated(node)
    if parts == [node]:
        return None
    values = [_module_string(part, tree, depth + 1) for part in parts]
    return None if None in values else "".join(values)


def _flag_value(node: ast.AST, re_alias: str) -> int | None:
    """The value of `re.FLAG | re.FLAG ...`, else None."""
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.BitOr):
        left, right = _flag_value(node.left, re_alias), _flag_value(node.right, re_alias)
        return None if left is None or right is None else left | right
    if (isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name)
            and node.value.id == re_alias and node.attr.isupper()
            and isinstance(getattr(re, node.attr, None), re.RegexFlag)):
        return int(getattr(re, node.attr))
    return None


def _pattern_variables(node: ast.AST, re_alias: str) -> list[str] | None:
    """The variables a pattern is built from, in order, when it is made only of string
    constants, variables, `+`, f-string fields and `re.escape(...)`; else None."""
    if isinstance(node, ast.Constant):
        return [] if isinstance(node.value, str) else None
    if isinstance(node, ast.Name):
        return None if node.id == re_alias else [node.id]
    parts = None
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add):
        parts = [node.left, node.right]
    elif (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
          and isinstance(node.func.value, ast.Name) and node.func.value.id == re_alias
          and node.func.attr == "escape" and len(node.args) == 1 and not node.keywords):
        parts = node.args
    elif isinstance(node, ast.JoinedStr):
        parts = [v.value if isinstance(v, ast.FormattedValue) else v for v in node.values]
        if any(isinstance(v, ast.FormattedValue) and (v.conversion != -1 or v.format_spec)
               for v in node.values):
            return None
    if parts is None:
        return None
    found: list[str] = []
    for part in parts:
        variables = _pattern_variables(part, re_alias)
        if variables is None:
            return None
        found += [v for v in variables if v not in found]
    return found


def _escaped_word(node: ast.AST, re_alias: str) -> str | None:
    """`word` when the pattern is a constant regex + `re.escape(word)` + a constant regex (by
    `+` or an f-string), each a plain sequence, the second not starting with a quantifier: every
    match then contains `word`. Else None."""
    parts = _concatenated(node)
    escapes = [i for i, part in enumerate(parts) if not isinstance(part, ast.Constant)]
    if len(escapes) != 1 or not all(isinstance(p.value, str) for i, p in enumerate(parts)
                                    if i != escapes[0]):
        return None
    escape = parts[escapes[0]]
    if not (isinstance(escape, ast.Call) and isinstance(escape.func, ast.Attribute)
            and isinstance(escape.func.value, ast.Name) and escape.func.value.id == re_alias
            and escape.func.attr == "escape" and len(escape.args) == 1 and not escape.keywords
            and isinstance(escape.args[0], ast.Name)):
        return None
    before = "".join(p.value for p in parts[:escapes[0]])
    after = "".join(p.value for p in parts[escapes[0] + 1:])
    if not (_sequence(before) and _sequence(after)) or after[:1] in ("*", "+", "?", "{"):
        return None
    return escape.args[0].id


def _sequence(pattern: str) -> bool:
    """A regex that compiles on its own, with no `|` outside groups and no inline flags or
    comments (which could reach past it)."""
    try:
        re.compile(pattern)
    except (re.error, RecursionError, OverflowError):
        return False
    depth, i = 0, 0
    while i < len(pattern):
        char = pattern[i]
        if char == "\\":
            i += 2
            continue
        if char == "[":  # a class: skip to its closing bracket (it compiled, so there is one)
            i += 1 + (pattern[i + 1:i + 2] == "^")
            i += pattern[i:i + 1] == "]"
            while pattern[i] != "]":
                i += 2 if pattern[i] == "\\" else 1
        elif char == "(":
            if pattern[i + 1:i + 2] == "?" and pattern[i + 2:i + 3] in tuple("aiLmsux-#"):
                return False
            depth += 1
        elif char == ")":
            depth -= 1
        elif char == "|" and depth == 0:
            return False
        i += 1
    return True


def _concatenated(node: ast.AST) -> list[ast.AST]:
    """The parts of a `+` chain or an f-string, in order."""
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add):
        return _concatenated(node.left) + _concatenated(node.right)
    if isinstance(node, ast.JoinedStr):
        return [v.value if isinstance(v, ast.FormattedValue) and v.conversion == -1
                and not v.format_spec else v for v in node.values]
    return [node]


def _assigned_name(statement) -> str | None:
    if (isinstance(statement, cst.SimpleStatementLine) and len(statement.body) == 1
            and isinstance(statement.body[0], cst.Assign)
            and len(statement.body[0].targets) == 1
            and isinstance(statement.body[0].targets[0].target, cst.Name)):
        return statement.body[0].targets[0].target.value
    return None


def _code(node: cst.CSTNode) -> str:
    return cst.Module([]).code_for_node(node)


def _with_constants(module: cst.Module, constants: list[tuple[str, str]],
                    helpers: list[str], imports: list[str]) -> cst.Module:
    """The module with the helper functions (pattern builders, may_match) before its first
    function, `NAME = expression` lines before `def label`, and the `imports` it lacks at the
    top."""
    body = list(module.body)
    at = next(i for i, s in enumerate(body) if isinstance(s, cst.FunctionDef)
              and s.name.value in ("label", "memoized_label"))
    body[at:at] = [cst.parse_statement(f"{name} = {code}\n") for name, code in constants]
    first = next(i for i, s in enumerate(body) if isinstance(s, cst.FunctionDef))
    body[first:first] = [cst.parse_statement(helper) for helper in helpers]
    for name in imports:
        if not _imports(module, name):
            body.insert(0, cst.parse_statement(f"import {name}\n"))
    return module.with_changes(body=body)


def _after_anchors(module: cst.Module, anchored: list[tuple[str, str, str]]) -> cst.Module:
    """The module with each `NAME = code` line right after the module-level line binding its
    anchor."""
    body = list(module.body)
    for anchor, name, code in anchored:
        at = next(i for i, s in enumerate(body) if _assigned_name(s) == anchor)
        body.insert(at + 1, cst.parse_statement(f"{name} = {code}\n"))
    return module.with_changes(body=body)


def _imports(module: cst.Module, name: str) -> bool:
    return any(isinstance(s, cst.SimpleStatementLine) and isinstance(s.body[0], cst.Import)
               and any(_code(a.name) == name and a.asname is None for a in s.body[0].names)
               for s in module.body)


def _memoized(module: cst.Module, parameter: str) -> cst.Module:
    """label's body moves to an lru_cache'd `memoized_label`; label calls it."""
    body = list(module.body)
    at = next(i for i, s in enumerate(body) if isinstance(s, cst.FunctionDef)
              and s.name.value == "label")
    memoized = body[at].with_changes(
        name=cst.Name("memoized_label"),
        decorators=[cst.Decorator(cst.parse_expression(f"functools.lru_cache(maxsize={MEMO_SIZE})"))])
    wrapper = cst.parse_statement(f"def label({parameter}):\n    return memoized_label({parameter})\n")
    body[at:at + 1] = [memoized, wrapper]
    return module.with_changes(body=body)
