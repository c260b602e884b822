"""Trusted: the names a function's code can reach when it runs, read from its syntax tree alone.

The integrity scan asks whether train_and_predict reaches my_gru (integrity.MUST_REACH). A name counts
only where the code around it can run: not in a branch whose condition is a constant (`if False:`,
`while 0:`, `x if None else y`, `False and ...`), not after a return, raise, break or continue in the
same block, not in a nested function or a method that nothing reached names. Classes reached run their
special methods (`__init__`, `__call__`, ...) and `forward` (`model(x)` calls it) without naming them.
A condition that depends on data counts as one that can be true: this is a speed bump, not a proof.
"""
import ast
import operator

IMPLICIT_METHODS = ("forward",)  # nn.Module.__call__ runs it; special methods (__x__) run implicitly too
COMPARE = {ast.Eq: operator.eq, ast.NotEq: operator.ne, ast.Lt: operator.lt, ast.LtE: operator.le,
           ast.Gt: operator.gt, ast.GtE: operator.ge, ast.Is: operator.is_, ast.IsNot: operator.is_not,
           ast.In: lambda a, b: operator.contains(b, a), ast.NotIn: lambda a, b: not operator.contains(b, a)}
ARITHMETIC = {ast.Add: operator.add, ast.Sub: operator.sub, ast.Mult: operator.mul}
UNKNOWN = object()


def names_reached(function, definitions):
    """Every name and attribute name that code reached from `function` can evaluate; definitions maps
    top-level names to their ast nodes (functions, classes, assignments)."""
    words, nested, followed = set(), {}, set()
    pending = [function]
    while pending:
        name = pending.pop()
        for node in [definitions.get(name), *nested.get(name, ())]:
            if node is None or id(node) in followed:
                continue
            followed.add(id(node))
            _follow(node, words, nested)
        unfollowed = [w for w in words if any(id(n) not in followed for n in [definitions.get(w), *nested.get(w, ())] if n)]
        implicit = [w for w in nested if _implicit(w) and any(id(n) not in followed for n in nested[w])]
        pending = unfollowed + implicit
    return words


def _implicit(name):
    """A method Python or torch calls without its name written: model(x) runs forward."""
    return (name.startswith("__") and name.endswith("__")) or name in IMPLICIT_METHODS


def _follow(node, words, nested):
    """The names a definition evaluates when it is used: a function's body, a class's body (its
    methods kept for later, by name), an assignment's value."""
    if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
        _walk(node.decorator_list, words, nested)
        _block(node.body, words, nested)
    elif isinstance(node, ast.ClassDef):
        _walk(node.decorator_list + node.bases + node.keywords, words, nested)
        _block(node.body, words, nested)
    elif isinstance(node, (ast.Assign, ast.AnnAssign)) and node.value is not None:
        _walk(node.value, words, nested)


def _block(statements, words, nested):
    for statement in statements:
        _walk(statement, words, nested)
        if isinstance(statement, (ast.Return, ast.Raise, ast.Break, ast.Continue)):
            break  # the rest of this block never runs


def _walk(node, words, nested):
    if isinstance(node, list):
        for item in node:
            _walk(item, words, nested)
        return
    if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
        nested.setdefault(node.name, []).append(node)  # its body runs only if something names it
        return
    if isinstance(node, (ast.If, ast.IfExp, ast.While)):
        value = constant(node.test)
        if value is not UNKNOWN:
            taken = node.body if value else node.orelse
            if isinstance(taken, list):
                _block(taken, words, nested)
            else:
                _walk(taken, words, nested)
            return
    if isinstance(node, ast.BoolOp):  # `False and x`: x never runs; `True or x` neither
        for operand in node.values:
            _walk(operand, words, nested)
            value = constant(operand)
            if value is not UNKNOWN and bool(value) == isinstance(node.op, ast.Or):
                return
        return
    if isinstance(node, ast.Name):
        words.add(node.id)
    elif isinstance(node, ast.Attribute):
        words.add(node.attr)
    for _, value in ast.iter_fields(node):
        if isinstance(value, list) and value and isinstance(value[0], ast.stmt):
            _block(value, words, nested)
        elif isinstance(value, (list, ast.AST)):
            _walk(value, words, nested)


def constant(node):
    """The value of a condition made of literals only (`False`, `0`, `not True`, `1 > 2`, `1 - 1`), or
    UNKNOWN."""
    if isinstance(node, ast.Constant):
        return node.value
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.Not, ast.USub)):
        value = constant(node.operand)
        if value is UNKNOWN:
            return UNKNOWN
        return (not value) if isinstance(node.op, ast.Not) else _number(lambda: -value)
    if isinstance(node, ast.BinOp) and type(node.op) in ARITHMETIC:
        left, right = constant(node.left), constant(node.right)
        if all(isinstance(v, (int, float)) and abs(v) < 1 << 64 for v in (left, right)):
            return _number(lambda: ARITHMETIC[type(node.op)](left, right))
        return UNKNOWN
    if isinstance(node, ast.Compare):
        values = [constant(node.left), *(constant(c) for c in node.comparators)]
        if UNKNOWN in values or not all(isinstance(v, (int, float, str, bytes, bool, type(None))) for v in values):
            return UNKNOWN
        try:
            return all(COMPARE[type(op)](a, b) for op, a, b in zip(node.ops, values, values[1:]))
        except TypeError:  # 1 < "a": it raises when it runs; nothing after it in the branch runs
            return UNKNOWN
    if isinstance(node, ast.BoolOp):
        values = [constant(v) for v in node.values]
        if UNKNOWN in values:
            return UNKNOWN
        return all(values) if isinstance(node.op, ast.And) else any(values)
    return UNKNOWN


def _number(compute):
    try:
        return compute()
    except (TypeError, OverflowError):
        return UNKNOWN
