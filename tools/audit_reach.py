#!/usr/bin/env python3
"""Audit what a pickle load can reach through globals judged harmless (session 7 audit).

Run with the venv holding the ML stack; it never unpickles or loads any file, it imports the
libraries and reads their source with ast:

    .venv-clients/bin/python tools/audit_reach.py safe  > /tmp/safe.tsv       # rules/globals.yaml safe list
    .venv-clients/bin/python tools/audit_reach.py setstate statsmodels sklearn ... > /tmp/ss.tsv

For every entry point (a safe function's body; a safe class's __new__, __init__, __setstate__,
__setattr__, __getattr__, __setitem__, __reduce__/__reduce_ex__ and the helpers they name, from
the whole MRO; every `def __setstate__` of the named packages) it follows calls a few levels deep,
resolving names through the function's real globals (so `from x import y` is followed to y),
self./cls. methods through the class's MRO and constructors to their __init__/__new__/__setstate__,
and prints each call it finds to a sink:

  code      eval / exec / compile / __import__ / importlib / pydoc.locate / resolve_name-style lookups
  deser     pickle/marshal/dill/joblib/torch/numpy load(s)
  process   os.system / popen / exec* / spawn* / subprocess
  native    ctypes
  open      open()/io.open/Path.open of a non-literal path
  dyncall   a call of a function parameter or of self.<attribute the class does not define>
            (an attacker-chosen callable when that value comes from the state/arguments)
  getattr   getattr/setattr with a non-literal name

One line per finding: entry, sink kind, what was called, file:line, chain. The output
over-approximates on purpose; every line is triaged by hand (docs/rules/state-audit.md).
"""
from __future__ import annotations

import ast
import importlib
import inspect
import os
import sys
import textwrap
import types
import warnings

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MAX_DEPTH = int(os.environ.get('AUDIT_DEPTH', '9'))

CODE = {'eval', 'exec', 'compile', '__import__', 'import_module', 'locate', 'resolve_name', '_locate',
        'get_class', 'import_string', 'find_class', 'instantiate', 'call'}
DESER = {'load', 'loads', 'Unpickler'}
DESER_MODULES = {'pickle', '_pickle', 'marshal', 'dill', 'joblib', 'torch', 'numpy', 'np', 'cloudpickle',
                 'cPickle', 'shelve', 'yaml'}
PROCESS = {'system', 'popen', 'Popen', 'run', 'call', 'check_call', 'check_output', 'spawnv', 'spawnl',
           'execv', 'execve', 'execvp', 'execl', 'posix_spawn', 'startfile', 'getoutput', 'getstatusoutput'}
PROCESS_MODULES = {'os', 'subprocess', 'pty', 'commands'}
ENTRY_METHODS = ('__new__', '__init__', '__setstate__', '__setattr__', '__getattr__', '__setitem__',
                 '__post_init__')


def dotted(e: ast.AST) -> list[str] | None:
    parts = []
    while isinstance(e, ast.Attribute):
        parts.append(e.attr)
        e = e.value
    if isinstance(e, ast.Name):
        parts.append(e.id)
        return parts[::-1]
    if isinstance(e, ast.Call) and isinstance(e.func, ast.Name) and e.func.id == 'super':
        parts.append('super()')
        return parts[::-1]
    return None


def literal(e: ast.AST) -> bool:
    return isinstance(e, ast.Constant) or (isinstance(e, ast.JoinedStr) and False)


def where(fn) -> str:
    try:
        f = inspect.getsourcefile(fn) or '?'
        _, line = inspect.getsourcelines(fn)
    except (OSError, TypeError):
        return '?'
    for base in sys.path:
        if base and f.startswith(base + os.sep) and 'site-packages' in base:
            f = f[len(base) + 1:]
            break
    return f'{f}:{line}'


def short(path: str) -> str:
    i = path.find('site-packages/')
    return path[i + 14:] if i >= 0 else path


GENERIC_METHODS = {'get', 'set', 'close', 'open', 'read', 'write', 'update', 'append', 'copy',
                   'pop', 'items', 'keys', 'values', 'add', 'remove', 'clear', 'format', 'join', 'split',
                   'start', 'stop', 'reset', 'send', 'flush', 'load', 'dump', 'encode', 'decode', 'sum',
                   'mean', 'reshape', 'astype', 'extend', 'insert', 'index', 'count', 'sort', 'setdefault',
                   'replace', 'strip', 'lower', 'upper', 'startswith', 'endswith', 'view', 'item', 'tolist',
                   'any', 'all', 'min', 'max', 'apply', 'map', 'call', 'run', 'fit', 'transform', 'predict',
                   'to', 'numpy', 'cpu', 'size', 'dim', 'flatten', 'ravel', 'squeeze', 'unsqueeze', 'match'}
BYNAME = os.environ.get('AUDIT_BYNAME', '1') == '1'


class Auditor:
    def __init__(self) -> None:
        self.cache: dict[int, list] = {}
        self.by_name: dict[tuple[str, str], list] | None = None
        self.by_name_size = 0

    def methods_named(self, pkg: str, name: str) -> list:
        """Methods called `name` of the classes defined in loaded modules of the package `pkg`:
        the possible targets of `x.name(...)` on a receiver whose class is not known."""
        if self.by_name is None or self.by_name_size != len(sys.modules):
            self.by_name = {}
            self.by_name_size = len(sys.modules)
            for mname, mod in list(sys.modules.items()):
                if mod is None:
                    continue
                top = mname.split('.')[0]
                try:
                    members = list(vars(mod).values())
                except Exception:
                    continue
                for v in members:
                    if isinstance(v, type) and getattr(v, '__module__', None) == mname:
                        for attr, f in vars(v).items():
                            if isinstance(f, (staticmethod, classmethod)):
                                f = f.__func__
                            if isinstance(f, types.FunctionType):
                                self.by_name.setdefault((top, attr), []).append((f, v))
        return self.by_name.get((pkg, name), [])

    def parse(self, fn):
        fn = inspect.unwrap(fn) if callable(fn) else fn
        code = getattr(fn, '__code__', None)
        if code is None:
            return None, None, None
        try:
            lines, start = inspect.getsourcelines(fn)
            tree = ast.parse(textwrap.dedent(''.join(lines)))
        except (OSError, TypeError, SyntaxError, IndentationError):
            return None, None, None
        node = tree.body[0] if tree.body else None
        return node, start, code.co_filename

    def resolve(self, fn, owner: type | None, parts: list[str], params: set[str], g: dict):
        """The object a dotted call target names, or a marker for dynamic targets."""
        head = parts[0]
        if head in ('self', 'cls') and owner is not None:
            if len(parts) == 2 and parts[1].startswith('__') and not parts[1].endswith('__'):
                # name mangling: self.__x inside class C is self._C__x; try every class of the MRO
                for k in owner.__mro__:
                    m = f'_{k.__name__.lstrip("_")}{parts[1]}'
                    if any(m in vars(c) for c in owner.__mro__):
                        parts = [head, m]
                        break
            if len(parts) == 2:
                for k in owner.__mro__:
                    if parts[1] in vars(k):
                        v = vars(k)[parts[1]]
                        if isinstance(v, (staticmethod, classmethod)):
                            v = v.__func__
                        if isinstance(v, property):
                            return ('prop', v.fget)
                        return ('obj', v, k)
                return ('dyn', 'self.' + parts[1])
            return ('unknown', None)
        if head == 'super()' and owner is not None and len(parts) == 2:
            for k in owner.__mro__[1:]:
                if parts[1] in vars(k):
                    v = vars(k)[parts[1]]
                    if isinstance(v, (staticmethod, classmethod)):
                        v = v.__func__
                    return ('obj', v, k)
            return ('unknown', None)
        if head in params and head not in ('self', 'cls'):
            return ('dyn', '.'.join(parts)) if len(parts) == 1 else ('unknown', None)
        if head in g:
            obj = g[head]
        elif hasattr(__builtins__, head) if not isinstance(__builtins__, dict) else head in __builtins__:
            obj = __builtins__[head] if isinstance(__builtins__, dict) else getattr(__builtins__, head)
        else:
            return ('unknown', None)
        for p in parts[1:]:
            try:
                obj = getattr(obj, p)
            except Exception:
                return ('unknown', None)
        if isinstance(obj, type):
            return ('obj', obj, obj)
        return ('obj', obj, None)

    def sink(self, parts: list[str], call: ast.Call, obj) -> str | None:
        name = parts[-1]
        mod = getattr(obj, '__module__', '') or ''
        if obj is not None and obj in (eval, exec, compile, __import__):
            return 'code'
        if obj is importlib.import_module or (name == 'import_module'):
            return 'code'
        if name in ('locate', 'resolve_name', 'import_string', '_locate', 'get_class'):
            return 'code'
        if name in ('eval', 'exec') and len(parts) >= 1:
            return 'code'
        if name in DESER and (parts[0] in DESER_MODULES or mod.split('.')[0] in DESER_MODULES):
            return 'deser'
        if name in PROCESS and (parts[0] in PROCESS_MODULES or mod.split('.')[0] in PROCESS_MODULES
                                or mod in ('posix', 'nt')):
            return 'process'
        if parts[0] == 'ctypes' or mod.startswith('ctypes'):
            return 'native'
        if name == 'open' and (obj is open or parts[0] in ('io', 'os', 'codecs', 'gzip', 'bz2', 'lzma', 'tarfile',
                                                            'zipfile', 'h5py', 'fsspec')):
            if call.args and not literal(call.args[0]):
                return 'open'
        if obj in (getattr, setattr) and len(call.args) >= 2 and not literal(call.args[1]):
            return 'getattr'
        return None

    def locals_of(self, node, fn, owner, params):
        """Names bound inside the function: local imports (to their objects) and variables
        assigned from a class call (to that class), so `mgr = FormulaManager(); mgr.get(...)`
        is followed."""
        imports: dict[str, object] = {}
        types_: dict[str, type] = {}
        for n in ast.walk(node):
            if isinstance(n, ast.ImportFrom) and n.module and n.level == 0:
                for al in n.names:
                    try:
                        m = importlib.import_module(n.module)
                        imports[al.asname or al.name] = getattr(m, al.name)
                    except Exception:
                        pass
            elif isinstance(n, ast.ImportFrom) and n.level > 0:
                base = getattr(fn, '__module__', '') or ''
                pkg = base.rsplit('.', n.level)[0] if n.level else base
                mod = pkg + ('.' + n.module if n.module else '')
                for al in n.names:
                    try:
                        m = importlib.import_module(mod)
                        imports[al.asname or al.name] = getattr(m, al.name)
                    except Exception:
                        pass
            elif isinstance(n, ast.Import):
                for al in n.names:
                    try:
                        imports[al.asname or al.name.split('.')[0]] = importlib.import_module(
                            al.name if al.asname else al.name.split('.')[0])
                    except Exception:
                        pass
        g = dict(getattr(fn, '__globals__', {}))
        g.update(imports)
        for n in ast.walk(node):
            if isinstance(n, ast.Assign) and len(n.targets) == 1 and isinstance(n.targets[0], ast.Name) \
                    and isinstance(n.value, ast.Call):
                parts = dotted(n.value.func)
                if parts and parts[0] in g:
                    obj = g[parts[0]]
                    try:
                        for p in parts[1:]:
                            obj = getattr(obj, p)
                    except Exception:
                        continue
                    if isinstance(obj, type):
                        types_[n.targets[0].id] = obj
        return g, types_

    def summary(self, fn, owner, depth: int) -> list:
        """Sinks reachable from fn: (kind, what, loc, chain) with chain relative to fn. Memoised."""
        key = (id(fn), id(owner), depth)
        if key in self.cache:
            return self.cache[key]
        self.cache[key] = []  # cycle guard
        if depth > MAX_DEPTH:
            del self.cache[key]
            return []
        out: list = []
        node, start, filename = self.parse(fn)
        if node is None or not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            return []
        a = node.args
        params = {x.arg for x in a.args + a.kwonlyargs + a.posonlyargs}
        if a.vararg:
            params.add(a.vararg.arg)
        if a.kwarg:
            params.add(a.kwarg.arg)
        g, local_types = self.locals_of(node, fn, owner, params)
        local_assigned = set()
        for n in ast.walk(node):
            if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Store):
                local_assigned.add(n.id)
        for n in ast.walk(node):
            if not isinstance(n, ast.Call):
                continue
            line = start + n.lineno - 1
            loc = f'{short(filename)}:{line}'
            parts = dotted(n.func)
            if parts is None:
                if isinstance(n.func, ast.Subscript):
                    out.append(('dyncall', ast.unparse(n.func)[:60], loc, []))
                continue
            if parts[0] in local_types and len(parts) == 2:
                cls = local_types[parts[0]]
                r = self.resolve_on(cls, parts[1])
            elif parts[0] in local_assigned and parts[0] not in params and parts[0] not in g:
                if len(parts) == 1:
                    out.append(('dyncall?', parts[0], loc, []))
                continue
            else:
                r = self.resolve(fn, owner, parts, params, g)
            if r[0] == 'dyn':
                out.append(('dyncall', r[1], loc, []))
                continue
            obj = r[1] if r[0] in ('obj', 'prop') else None
            s = self.sink(parts, n, obj)
            if s:
                out.append((s, '.'.join(parts), loc, []))
                continue
            if obj is None:
                # x.meth(...) on a receiver of unknown class: every method of that name in the
                # caller's own package (patsy's factor.memorize_passes_needed reaches its eval)
                if BYNAME and len(parts) >= 2 and parts[0] not in g and not parts[-1].startswith('__') \
                        and parts[-1] not in GENERIC_METHODS and parts[0] not in ('self', 'cls', 'super()'):
                    pkg = (getattr(fn, '__module__', '') or '').split('.')[0]
                    for f, k in self.methods_named(pkg, parts[-1])[:12]:
                        for kind, what, l2, chain in self.summary(f, k, depth + 1):
                            out.append((kind, what, l2, [f'~{k.__qualname__}.{parts[-1]}@{loc}'] + chain))
                continue
            nxt_owner = r[2] if r[0] == 'obj' else owner
            label = '.'.join(parts)
            targets = []
            if isinstance(obj, type):
                for m in ('__new__', '__init__', '__setstate__', '__post_init__'):
                    for k in obj.__mro__:
                        if m in vars(k):
                            v = vars(k)[m]
                            if isinstance(v, (staticmethod, classmethod)):
                                v = v.__func__
                            if k is not object and getattr(v, '__code__', None) is not None:
                                targets.append((v, obj, f'{label}.{m}@{loc}'))
                            break
            elif isinstance(obj, (types.FunctionType, types.MethodType)):
                fo = obj.__func__ if isinstance(obj, types.MethodType) else obj
                own = nxt_owner
                if isinstance(obj, types.MethodType) and isinstance(obj.__self__, type):
                    own = obj.__self__
                if own is None and parts[0] in ('self', 'cls', 'super()'):
                    own = owner
                targets.append((fo, own, f'{label}@{loc}'))
                if parts[0] in ('self', 'cls') and len(parts) == 2 and owner is not None:
                    # self.meth() also runs a subclass's override: rv_generic.__setstate__ calls
                    # self._attach_methods(), which rv_continuous overrides to exec the template
                    for sub, override in overrides(owner, parts[1])[:8]:
                        targets.append((override, sub, f'{sub.__qualname__}.{parts[1]}@{loc}'))
            for tf, town, step in targets:
                for kind, what, l2, chain in self.summary(tf, town, depth + 1):
                    out.append((kind, what, l2, [step] + chain))
        self.cache[key] = out
        return out

    def resolve_on(self, cls, name):
        for k in cls.__mro__:
            if name in vars(k):
                v = vars(k)[name]
                if isinstance(v, (staticmethod, classmethod)):
                    v = v.__func__
                return ('obj', v, cls)
        return ('unknown', None)

    def walk(self, fn, owner, depth: int, chain: list[str], out: list, seen: set):
        self.cache = {}  # per entry: the cycle guard must not leak a partial result to other entries
        for kind, what, loc, ch in self.summary(fn, owner, depth):
            out.append((kind, what, loc, chain + ch))

    def entries_of(self, obj, path: str):
        if isinstance(obj, type):
            for m in ENTRY_METHODS:
                for k in obj.__mro__:
                    if m in vars(k):
                        v = vars(k)[m]
                        if isinstance(v, (staticmethod, classmethod)):
                            v = v.__func__
                        if getattr(v, '__code__', None) is not None:
                            yield f'{path}.{m}[{k.__module__}.{k.__qualname__}]', v, obj
                        break
        elif callable(obj):
            fo = obj.__func__ if isinstance(obj, types.MethodType) else obj
            if getattr(fo, '__code__', None) is not None:
                yield path, fo, None

    def audit(self, path: str, obj) -> list:
        rows = []
        for label, fn, owner in self.entries_of(obj, path):
            out: list = []
            self.walk(fn, owner, 0, [], out, set())
            for kind, what, loc, chain in out:
                rows.append((label, kind, what, loc, ' > '.join(chain)))
        return rows


NOISY = {'dyncall?'}


def overrides(cls: type, name: str) -> list:
    """(subclass, function) for each loaded subclass of cls that defines `name` itself."""
    out, seen, todo = [], set(), list(cls.__subclasses__()) if hasattr(cls, '__subclasses__') else []
    while todo and len(seen) < 400:
        sub = todo.pop()
        if sub in seen:
            continue
        seen.add(sub)
        try:
            todo.extend(sub.__subclasses__())
        except TypeError:
            continue
        v = vars(sub).get(name)
        if isinstance(v, (staticmethod, classmethod)):
            v = v.__func__
        if isinstance(v, types.FunctionType) and all(v is not f for _, f in out):
            out.append((sub, v))
    return out


def dedupe(rows: list) -> list:
    """One row per (entry, sink, site), keeping the shortest chain; speculative kinds dropped."""
    best: dict = {}
    for r in rows:
        if r[1] in NOISY:
            continue
        k = r[:4]
        if k not in best or len(r[4]) < len(best[k][4]):
            best[k] = r
    return sorted(best.values())


def import_path(path: str):
    parts = path.split('.')
    for i in range(len(parts), 0, -1):
        try:
            obj = importlib.import_module('.'.join(parts[:i]))
        except Exception:
            continue
        try:
            for p in parts[i:]:
                obj = getattr(obj, p)
            return obj
        except AttributeError:
            return None
    return None


def safe_entries() -> list[str]:
    import yaml
    with open(os.path.join(ROOT, 'rules', 'globals.yaml')) as f:
        d = yaml.safe_load(f)
    return [m for e in d['safe'] for m in e['match'] if '*' not in m]


def setstate_sites(packages: list[str]) -> list[tuple[str, str]]:
    """(module, class qualname) of every class statement defining __setstate__ in the packages."""
    sites = []
    for pkg in packages:
        spec = importlib.util.find_spec(pkg)
        if spec is None or not spec.submodule_search_locations:
            continue
        base = list(spec.submodule_search_locations)[0]
        for dirpath, dirnames, files in os.walk(base):
            dirnames[:] = [d for d in dirnames if d not in ('tests', 'test', 'testing', '__pycache__')]
            for fname in files:
                if not fname.endswith('.py'):
                    continue
                full = os.path.join(dirpath, fname)
                try:
                    src = open(full, encoding='utf-8').read()
                except (OSError, UnicodeDecodeError):
                    continue
                if '__setstate__' not in src:
                    continue
                try:
                    tree = ast.parse(src)
                except SyntaxError:
                    continue
                mod = pkg + '.' + os.path.relpath(full, base)[:-3].replace(os.sep, '.')
                mod = mod[:-9] if mod.endswith('.__init__') else mod

                def visit(node, prefix):
                    for ch in ast.iter_child_nodes(node):
                        if isinstance(ch, ast.ClassDef):
                            q = prefix + ch.name
                            if any(isinstance(b, ast.FunctionDef) and b.name == '__setstate__' for b in ch.body):
                                sites.append((mod, q))
                            visit(ch, q + '.')
                visit(tree, '')
    return sites


def main() -> int:
    warnings.filterwarnings('ignore')
    import importlib.util  # noqa: F401
    a = Auditor()
    mode = sys.argv[1]
    if mode == 'safe':
        for path in safe_entries():
            obj = import_path(path)
            if obj is None:
                print(f'{path}\tUNRESOLVED')
                continue
            rows = dedupe(a.audit(path, obj))
            kinds = 'class' if isinstance(obj, type) else 'callable'
            print(f'{path}\t{kinds}\tentries={len(list(a.entries_of(obj, path)))}\tfindings={len(rows)}')
            for r in rows:
                print('  ' + '\t'.join(r))
    else:
        for mod, q in setstate_sites(sys.argv[2:]):
            try:
                obj = import_path(mod)
                for p in q.split('.'):
                    obj = getattr(obj, p, None) if obj is not None else None
            except Exception:
                obj = None
            if obj is None:
                print(f'{mod}.{q}\tUNRESOLVED')
                continue
            fn = vars(obj).get('__setstate__')
            out: list = []
            a.walk(fn, obj, 0, [], out, set())
            rows = dedupe([(f'{mod}.{q}.__setstate__', k, w, l, ' > '.join(c)) for k, w, l, c in out])
            print(f'{mod}.{q}\t{where(fn)}\tfindings={len(rows)}')
            for r in rows:
                print('  ' + '\t'.join(r))
    return 0


if __name__ == '__main__':
    sys.exit(main())
