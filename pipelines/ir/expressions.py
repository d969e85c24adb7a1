"""The expressions backends evaluate: KFP trigger conditions (a CEL subset), Argo's `when` and
`depends`, and retry expressions, all read by one small evaluator that runs no code.
"""

from __future__ import annotations

import ast
import re
from typing import Any

from pipelines.ir.placeholders import CONDITION_PARAMETER
from pipelines.ir.reader import IRError

_CEL_CALLS = {"int": int, "double": float, "string": str}


def evaluate_condition(condition: str, parameters: dict[str, Any]) -> bool:
    """Evaluate a KFP trigger condition (a small CEL subset) over resolved parameter values.

    Supports ==, !=, <, <=, >, >=, &&, ||, !, int()/double()/string(), and JSON literals,
    which is what kfp's compiler emits for dsl.If / dsl.Elif / dsl.Else.
    """
    names: dict[str, Any] = {}

    def ref(match: re.Match[str]) -> str:
        key = match.group(1)
        if key not in parameters:
            raise IRError(
                f"condition {condition!r} reads parameter '{key}' which is not an "
                f"input of the task (inputs: {sorted(parameters)})"
            )
        var = f"_p{len(names)}"
        names[var] = parameters[key]
        return var

    return bool(
        evaluate_expression(CONDITION_PARAMETER.sub(ref, condition), names, _CEL_CALLS, condition)
    )


def evaluate_expression(
    text: str,
    names: dict[str, Any],
    calls: dict[str, Any],
    source: str | None = None,
) -> Any:
    """Evaluate a C-style expression (CEL, Argo's govaluate `when`, expr retry rules and
    conditional outputs).

    `names` maps identifiers already substituted into `text` to values; `calls` the functions
    it may call. Supports ==, !=, <, <=, >, >=, &&, ||, !, and/or/not, quoted strings, numbers,
    true/false/null, `cond ? a : b` (only the branch taken is evaluated, right-associative, not
    inside parentheses) and member access into dict values (`tasks['a'].status`; a missing key
    is null, as in expr). Anything else raises IRError naming the expression.
    """
    source = source or text
    names = dict(names)

    def literal(match: re.Match[str]) -> str:  # keep '!' or '&&' inside strings untouched
        var = f"_s{len(names)}"
        names[var] = ast.literal_eval(match.group(0))
        return var

    text = re.sub(r"'(?:[^'\\]|\\.)*'|\"(?:[^\"\\]|\\.)*\"", literal, text)
    text = re.sub(r"\btrue\b", "True", text)
    text = re.sub(r"\bfalse\b", "False", text)
    text = re.sub(r"\bnull\b", "None", text)
    text = text.replace("&&", " and ").replace("||", " or ")
    text = re.sub(r"!(?!=)", " not ", text)
    text = _ternary(text)
    try:
        tree = ast.parse(text.strip(), mode="eval")
    except SyntaxError as err:
        raise IRError(f"cannot read expression {source!r}: {err}") from err
    return _eval(tree.body, names, calls, source)


def _ternary(text: str) -> str:
    """`c ? a : b` (strings already taken out) as Python's `(a) if (c) else (b)`, inside
    parentheses too; right-associative, as in expr and CEL."""
    out, i = [], 0
    while i < len(text):  # parenthesised parts first, so none holds a '?' below
        if text[i] == "(":
            depth, j = 1, i + 1
            while j < len(text) and depth:
                depth += (text[j] == "(") - (text[j] == ")")
                j += 1
            out.append("(" + _ternary(text[i + 1 : j - 1]) + ")")
            i = j
        else:
            out.append(text[i])
            i += 1
    text = "".join(out)
    question = _top_level(text, "?")
    if question < 0:
        return text
    nested = depth = 0
    for i in range(question + 1, len(text)):
        depth += (text[i] in "([") - (text[i] in ")]")
        if depth == 0 and text[i] == "?":
            nested += 1
        elif depth == 0 and text[i] == ":":
            if nested == 0:
                condition, then, otherwise = text[:question], text[question + 1 : i], text[i + 1 :]
                return f"({_ternary(then)}) if ({condition}) else ({_ternary(otherwise)})"
            nested -= 1
    return text  # a '?' without its ':': left for the parser to reject


def _top_level(text: str, char: str) -> int:
    """Where `char` first occurs outside brackets, or -1."""
    depth = 0
    for i, c in enumerate(text):
        depth += (c in "([") - (c in ")]")
        if depth == 0 and c == char:
            return i
    return -1


def _eval(node: ast.AST, names: dict[str, Any], calls: dict[str, Any], source: str) -> Any:
    import operator

    ops = {
        ast.Eq: operator.eq,
        ast.NotEq: operator.ne,
        ast.Lt: operator.lt,
        ast.LtE: operator.le,
        ast.Gt: operator.gt,
        ast.GtE: operator.ge,
    }
    if isinstance(node, ast.Constant):
        return node.value
    if isinstance(node, ast.Name) and node.id in names:
        return names[node.id]
    if isinstance(node, ast.BoolOp):
        values = [_eval(v, names, calls, source) for v in node.values]
        return all(values) if isinstance(node.op, ast.And) else any(values)
    if isinstance(node, ast.IfExp):
        chosen = node.body if _eval(node.test, names, calls, source) else node.orelse
        return _eval(chosen, names, calls, source)
    if isinstance(node, ast.Attribute | ast.Subscript):
        container = _eval(node.value, names, calls, source)
        key = (
            node.attr
            if isinstance(node, ast.Attribute)
            else _eval(node.slice, names, calls, source)
        )
        if not isinstance(container, dict):
            raise IRError(f"expression {source!r}: cannot read {key!r} of {container!r}")
        return container.get(key)
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.Not):
        return not _eval(node.operand, names, calls, source)
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub):
        return -_eval(node.operand, names, calls, source)
    if isinstance(node, ast.Compare) and all(type(o) in ops for o in node.ops):
        left = _eval(node.left, names, calls, source)
        for op, comparator in zip(node.ops, node.comparators, strict=True):
            right = _eval(comparator, names, calls, source)
            if not ops[type(op)](left, right):
                return False
            left = right
        return True
    if (
        isinstance(node, ast.Call)
        and isinstance(node.func, ast.Name)
        and node.func.id in calls
        and len(node.args) == 1
    ):
        return calls[node.func.id](_eval(node.args[0], names, calls, source))
    raise IRError(
        f"expression {source!r} uses something the local runner does not support: "
        f"{ast.dump(node)[:80]}"
    )
