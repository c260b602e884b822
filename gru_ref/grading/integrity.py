"""Trusted: a static scan of the learner's code for what has no place in an answer.

A GRU needs torch and arithmetic. Code that reaches for the garbage collector, native memory, other
processes, signals, the dispatcher's registry, import machinery or gru_ref's internals could be
undoing the in-process switch-off of built-in GRUs. A flag changes no score: the submission is
marked for manual review, with the lines, in nbgrader and in the class report.
"""
import ast
import re
import tokenize

from IPython.core.inputtransformer2 import TransformerManager, make_tokens_by_line

from gru_ref.grading import reach

MODULES = {"gc": "the garbage collector", "ctypes": "native memory access", "cffi": "native code",
           "subprocess": "starting programs", "multiprocessing": "other processes",
           "concurrent": "other processes or threads", "threading": "threads", "_thread": "threads",
           "signal": "signals", "importlib": "import machinery",
           "inspect": "introspection of the grader", "pty": "terminals", "socket": "the network",
           "shutil": "file operations", "pickle": "pickled code", "marshal": "compiled code",
           "code": "running code from strings", "runpy": "running other code", "builtins": "builtins",
           "pathlib": "files outside the answer", "io": "files outside the answer", "mmap": "raw memory",
           "resource": "the grader's limits", "numpy.ctypeslib": "native memory access",
           "asyncio": "threads (its executors)", "pkgutil": "reaching modules by name"}
CALLS = {"exec": "running code from a string", "eval": "running code from a string",
         "compile": "compiling code", "__import__": "import machinery", "globals": "the namespace",
         "setattr": "changing other objects", "delattr": "changing other objects", "vars": "the namespace"}
SHELL_MAGICS = {"bash", "sh", "script", "system", "writefile", "file", "python", "python2", "python3",
                "pypy", "perl", "ruby", "js", "javascript", "html", "svg", "capture"}
OS_NAMES = re.compile(r"^(fork|forkpty|exec\w*|spawn\w*|kill|killpg|system|popen|posix_spawn\w*|"
                      r"_exit|abort|setsid|setpgid|chdir|remove|unlink|rmdir|rename|replace|p?writev?|fdopen|"
                      r"sendfile|splice|copy_file_range|putenv|"  # writes to a descriptor: the grader's channel
                      r"open|dup2?|chmod|chown|fchmod|lchown|mkfifo|mknod|symlink|link)$")
ATTRIBUTES = re.compile(r"^(library|_decomp|_C|_ops|_dispatch\w*|py_kernels|_VF|ops|_library|"
                        r"__dict__|__globals__|__code__|__builtins__|__subclasses__|__class__|modules|"
                        r"_getframe|f_back|f_globals|settrace|setprofile|meta_path|path_hooks|"
                        r"_LOCKDOWN|REFUSED|_Lockdown|undo|_TorchOps|resolve_name|"
                        # NumPy's ways to raw memory: ctypes, and an array over any address (the box
                        # refuses ctypes; an array over an address it cannot see: gru_ref.grading.native_guard)
                        r"ctypeslib|__array_interface__|__array_struct__|as_strided|_cdata)$")

# The profiler records the torch operators a shapes function runs (gru_ref.learner.sandbox._TorchOps): code that
# stops it, or switches off the record functions it listens to, could be hiding them. (Its public
# record_function, which names a block of one's own code, hides nothing.)
PROFILER = re.compile(r"^(kineto\w*|_\w*profiler\w*|_\w*record_function\w*|_RecordFunction\w*)$")


# A graded function -> the learner's own function it must reach. train_gru's checks see only logits: a
# model that is not the learner's GRU (a lookup of the clue and the key learned from train_y) passes them.
# Reaching it is read from the code, a speed bump: from the function's body, through the top-level
# functions, classes and assignments its live code names, code that cannot run left out (a branch
# whose condition is a constant, code after a return, a nested function or a method nothing names).
# A model that calls my_gru and ignores its output, or a condition that is never true on the data,
# reaches it too. The reader of the flag reads the model.
MUST_REACH = {"train_and_predict": "my_gru"}


def scan(cells):
    """[(cell_index, line_number, line, reason)] for the learner's cells [(cell_index, source)]."""
    codes = [(cell_index, source, _code(source)) for cell_index, source in cells]
    readable = [(cell_index, code) for cell_index, _, code in codes if _readable(code)]
    flags = _unreached(readable)
    for cell_index, source, code in codes:
        tree = None
        if _readable(code):
            try:
                tree = ast.parse(code)
            except (SyntaxError, ValueError):
                continue  # it cannot run either; nothing to hide there
            except (RecursionError, MemoryError) as exc:
                code = _unscannable(exc)
        if code is None:
            continue
        if tree is None:  # built to choke a reader: that is a finding in itself
            flags.append((cell_index, 1, source.splitlines()[0][:160] if source.strip() else "", str(code)))
            continue
        lines = code.splitlines()
        for node in ast.walk(tree):
            reason = _reason(node)
            if reason:
                line = lines[node.lineno - 1].strip() if 0 < node.lineno <= len(lines) else ""
                flags.append((cell_index, node.lineno, line[:160], reason))
    seen, unique = set(), []
    for flag in sorted(flags):
        if flag[:2] not in seen:
            seen.add(flag[:2])
            unique.append(flag)
    return unique


class Unscannable(str):
    """Why a cell's code could not be read."""


def _unscannable(exc):
    return Unscannable("code too deeply nested to scan" if isinstance(exc, RecursionError) else
                       "code too large to scan within the scan's memory limit")


def _readable(code):
    return isinstance(code, str) and not isinstance(code, Unscannable)


def _code(source):
    """The Python that IPython runs for a cell (its magics and `!` lines become calls), or an
    Unscannable reason, or None if it is not Python at all (it cannot run either).

    A cell that is plain Python is left as it is: IPython's transforms only rewrite what is not
    Python. Otherwise each logical line is transformed on its own: IPython's transformer re-reads
    the whole cell after each rewrite, quadratic in the number of `!` lines (499 of them in 65 KB
    cost 224 s), and gives up after 500."""
    try:
        ast.parse(source)
        return source
    except (SyntaxError, ValueError):  # ValueError: a null byte, which the transformer refuses too
        pass
    except (RecursionError, MemoryError) as exc:
        return _unscannable(exc)
    try:
        return transform_linearly(source)
    except (RecursionError, MemoryError) as exc:
        return _unscannable(exc)
    except RuntimeError:  # IPython's own limit on rewrites in one logical line
        return Unscannable("code too convoluted to scan (IPython syntax rewritten again and again)")
    except (SyntaxError, ValueError):
        return None


def transform_linearly(cell):
    """TransformerManager().transform_cell(cell), one logical line at a time (the same lines as
    IPython's: its tokenizer, read once, says where each ends)."""
    manager = TransformerManager()
    cell = cell if cell.endswith("\n") else cell + "\n"
    lines = cell.splitlines(keepends=True)
    for transform in manager.cleanup_transforms + manager.line_transforms:
        lines = transform(lines)
    groups = make_tokens_by_line(lines)
    finished = bool(groups) and groups[-1][-1].type == tokenize.ENDMARKER
    out, row = [], 0
    for tokens in groups if finished else groups[:-1]:
        end = min(max(token.end[0] for token in tokens), len(lines))
        if end > row:
            out += manager.do_token_transforms(lines[row:end])
            row = end
    if row < len(lines):  # the tokenizer stopped in an unfinished string: the rest is one logical line
        out += manager.do_token_transforms(lines[row:])
    return "".join(out)


def _unreached(cells):
    """A flag on each function of MUST_REACH that the cells [(cell_index, code)] define but whose code,
    followed through the cells' top-level functions, classes and assignments on paths that can run
    (gru_ref.grading.reach), never names what it must reach."""
    definitions = {}  # top-level name -> (cell_index, its definition), the last one winning
    for cell_index, code in cells:
        try:
            body = ast.parse(code).body
        except (SyntaxError, ValueError, RecursionError, MemoryError):
            continue
        for node in body:
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                definitions[node.name] = (cell_index, node)
            elif isinstance(node, (ast.Assign, ast.AnnAssign)):
                for target in (node.targets if isinstance(node, ast.Assign) else [node.target]):
                    if isinstance(target, ast.Name):
                        definitions[target.id] = (cell_index, node)
    flags = []
    for function, needed in MUST_REACH.items():
        if function not in definitions or not _can_return_a_value(definitions[function][1]):
            continue  # not written yet (the released `raise NotImplementedError`): it scores nothing to read
        try:
            named = reach.names_reached(function, {name: node for name, (_, node) in definitions.items()})
        except RecursionError:  # nested past what the walk can follow: not read as reaching it
            named = set()
        if needed not in named:
            cell_index, node = definitions[function]
            flags.append((cell_index, node.lineno, f"def {function}(...)", f"{function} never reaches {needed} "
                          f"on a path that runs: its checks see only logits, which a model without {needed} (a "
                          f"lookup of the clue and the key) can give; read the model"))
    return flags


def _can_return_a_value(node):
    """False for a function whose own body (not a function or class inside it) has no `return <value>`
    and no `yield`: it returns None or raises, whatever it does, so its checks give it nothing."""
    if not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
        return True
    todo = list(node.body)
    while todo:
        child = todo.pop()
        if isinstance(child, (ast.Yield, ast.YieldFrom)) or (isinstance(child, ast.Return) and child.value is not None):
            return True
        if not isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef, ast.Lambda)):
            todo.extend(ast.iter_child_nodes(child))
    return False


def _reason(node):
    if isinstance(node, (ast.Import, ast.ImportFrom)):
        names = [a.name for a in node.names] if isinstance(node, ast.Import) else [node.module or ""]
        for name in names:
            root = name if name in MODULES else name.split(".")[0]
            if root in MODULES:
                return f"imports {name}: {MODULES[root]}"
            if _private(root):  # _signal (the grader's alarm), _posixsubprocess, _ctypes...: no answer needs one
                return f"imports {name}: the interpreter's internals"
            if root == "gru_ref" and not (isinstance(node, ast.ImportFrom) and node.module == "gru_ref"
                                          and all(a.name.startswith("check_") for a in node.names)):
                return f"imports gru_ref's internals ({name})"
            if name.startswith(("torch.library", "torch._", "torch.utils.cpp_extension", "torch.ops")):
                return f"imports {name}: torch's dispatcher or internals"
            if any(PROFILER.match(part) for part in name.split(".")):
                return f"imports {name}: the profiler, which records the torch operators a function runs"
        if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("torch"):
            inner = [a.name for a in node.names if ATTRIBUTES.match(a.name) or PROFILER.match(a.name)
                     or _private(a.name)]
            if inner:
                return f"imports {', '.join(inner)} from {node.module}: torch's dispatcher or internals"
        if isinstance(node, ast.ImportFrom) and node.module == "os":
            bad = [a.name for a in node.names if OS_NAMES.match(a.name)]
            if bad:
                return f"imports os.{bad[0]}: processes, signals or files"
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in CALLS:
        return f"calls {node.func.id}(): {CALLS[node.func.id]}"
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "open" \
            and not _inside_folder(node):
        return "opens a file outside the working folder"
    if isinstance(node, ast.Attribute):
        base = node.value.id if isinstance(node.value, ast.Name) else None
        if base == "os" and OS_NAMES.match(node.attr):
            return f"uses os.{node.attr}: processes, signals or files"
        if ATTRIBUTES.match(node.attr) and base not in ("self",):
            return f"uses .{node.attr}: torch's dispatcher, the interpreter or the grader's internals"
        if base == "torch" and node.attr.startswith("_"):  # torch._meta_registrations computes shapes in Python
            return f"uses torch.{node.attr}: torch's internals"
        if PROFILER.match(node.attr):
            return f"uses .{node.attr}: the profiler, which records the torch operators a function runs"
        chain = _torch_chain(node)
        if chain and any(_private(part) for part in chain):  # torch.autograd._enable_record_function
            return f"uses {'.'.join(chain)}: torch's internals"
        if node.attr in ("write_bytes", "write_text", "_cdata", "symlink_to", "hardlink_to"):
            return f"uses .{node.attr}: files outside the answer, or tensors' native memory"
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "run_cell_magic" \
            and node.args and isinstance(node.args[0], ast.Constant) and node.args[0].value in SHELL_MAGICS:
        return f"uses the %%{node.args[0].value} cell magic: other programs or files"
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in ("getattr", "setattr") \
            and len(node.args) >= 2 and not isinstance(node.args[1], ast.Constant):
        return f"calls {node.func.id}() with a computed name: a way around this scan"
    if isinstance(node, ast.Name) and node.id in CALLS and isinstance(node.ctx, ast.Load) and \
            node.id in ("exec", "eval", "compile", "__import__"):
        return f"uses {node.id}: running code from a string"
    if isinstance(node, ast.Name) and node.id == "gru_ref":
        return "uses gru_ref's internals"
    if isinstance(node, ast.Constant) and isinstance(node.value, str) and PROFILER.match(node.value):
        return f"names {node.value!r}: the profiler, which records the torch operators a function runs"
    return None


def _private(name):
    """_name, not __dunder__: what a module keeps to itself."""
    return name.startswith("_") and not name.endswith("__")


def _torch_chain(node):
    """["torch", "autograd", "_x"] for the expression torch.autograd._x, else None."""
    parts = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    return ["torch", *reversed(parts)] if isinstance(node, ast.Name) and node.id == "torch" else None


def _inside_folder(call):
    """open("a relative path") without "..": a file of the submission's own folder."""
    path = call.args[0] if call.args else None
    return (isinstance(path, ast.Constant) and isinstance(path.value, str)
            and not path.value.startswith(("/", "~")) and ".." not in path.value)
