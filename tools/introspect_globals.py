#!/usr/bin/env python3
"""Generate rules/globals-facts.json: facts about Python globals, taken from the real libraries.

Run with the venv that holds the ML stack (never unpickles or loads any model file):

    /opt/mg-venv/bin/python tools/introspect_globals.py            # rewrite rules/globals-facts.json
    /opt/mg-venv/bin/python tools/introspect_globals.py --check    # exit 1 if the committed file differs
    /opt/mg-venv/bin/python tools/introspect_globals.py --check-modules random tempfile torch.serialization
                                  # cheap: re-derive only the facts whose source module is listed
                                  # (reaches: from their stdlib import closure) and compare

What it writes (every list sorted, so the file is deterministic for the same library versions):

  generated        Python and library versions, and the command.
  moduleAliases    target module -> attribute paths that ARE that module under another path
                   (`random._os` is `os`). Only targets the catalogue cares about: modules matched
                   by a dangerous entry of rules/globals.yaml, or holding one (numpy holds
                   numpy.load), or holding a reaches verdict, or holding a renamed alias to such a
                   module (random holds _os), so chains like `m.rnd._os` resolve hop by hop.
  reexports        path -> real definition site (`__module__` + `__qualname__`, checked to resolve to
                   the same object) for catalogue entries, public attributes of the modules the
                   catalogue lists, and any module attribute that is a dangerous callable under
                   another name (`from os import system as _run` makes `m._run` os.system).
  kinds            class / function / module / other -> paths (for every path above).
  reaches          standard-library functions, methods and classes whose code evaluates, executes or
                   imports code, starts processes or loads native code, found by AST analysis of
                   the stdlib source (direct calls and calls through other stdlib functions), with
                   the call site as evidence and a reviewed verdict (REVIEWED below).

How modules are walked: every stdlib module (sys.stdlib_module_names and the submodules of its
packages) and every submodule of the ML libraries in LIBRARIES is imported, except SKIP (modules that
start GUIs, open browsers, print, need Windows, or are CLI entry points) and test packages. Only
`vars(module)` is read, so lazy modules are not forced. Import failures are skipped and counted.
"""
from __future__ import annotations

import argparse
import ast
import contextlib
import importlib
import importlib.util
import io
import json
import os
import pkgutil
import sys
import sysconfig
import types
import warnings

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
OUT = os.path.join(ROOT, 'rules', 'globals-facts.json')
YAML = os.path.join(ROOT, 'rules', 'globals.yaml')
COMMAND = '/opt/mg-venv/bin/python tools/introspect_globals.py'

LIBRARIES = [
    'torch', 'numpy', 'scipy', 'sklearn', 'pandas', 'joblib', 'transformers', 'safetensors',
    'lightgbm', 'dill', 'cloudpickle', 'sympy', 'lightning', 'pytorch_lightning', 'lightning_fabric',
    'datasets', 'h5py', 'msgpack', 'huggingface_hub', 'tokenizers', 'accelerate', 'flax', 'jax',
    'optax', 'yaml',
]

# Imported at the top level only (plus whatever that imports): walking every submodule costs
# minutes (sympy's submodules alone took over 15 minutes of imports), for no pickle-relevant gain.
SHALLOW = {'sympy', 'jax', 'flax', 'optax'}

# Never imported: side effects on import (GUI, browser, printing, CLI entry points), Windows-only,
# or test suites. Matched as whole-segment prefixes.
SKIP = {
    'antigravity', 'this', 'idlelib', 'turtle', 'turtledemo', 'tkinter', '_tkinter', 'test',
    '__phello__', '__hello__', '_xxtestfuzz', 'xxlimited', 'xxlimited_35', 'xxsubtype', 'msvcrt',
    'winreg', 'winsound', '_winapi', 'nt', 'msilib', '_msi', 'ensurepip._bundled', 'lib2to3.tests',
    'distutils.tests', 'sqlite3.test', 'ctypes.test', 'unittest.test', 'tkinter.test',
    # ML stack: test suites, CLIs, heavy optional back-ends
    'torch.testing._internal', 'torch._inductor', 'torch.utils.benchmark', 'torch.utils.bottleneck',
    'torch.distributed.elastic', 'torch.distributed.run', 'torch.distributed.launch',
    'torch.utils.tensorboard', 'torch.onnx', 'torch._dynamo', 'torch.utils.hipify',
    'numpy.distutils', 'numpy.f2py', 'numpy.testing', 'scipy.conftest', 'pandas.conftest',
    'transformers.commands', 'transformers.models', 'transformers.onnx', 'transformers.kernels',
    'sympy.galgebra', 'lightning.app', 'jax.experimental.jax2tf', 'datasets.commands',
    'huggingface_hub.commands', 'huggingface_hub.cli',
}
SKIP_SEGMENTS = {'tests', 'test', 'testing', '__main__', 'conftest', 'benchmarks', 'setup'}

# Reachable-code sinks for the AST analysis: fully qualified callable -> category.
SINKS = {
    'builtins.eval': 'eval', 'builtins.exec': 'exec', 'builtins.__import__': 'import',
    'importlib.import_module': 'import', 'importlib.__import__': 'import',
    'importlib._bootstrap._gcd_import': 'import',
    'os.system': 'process', 'os.popen': 'process', 'os.posix_spawn': 'process',
    'os.posix_spawnp': 'process', 'os.startfile': 'process', 'os.forkpty': 'process',
    'subprocess.Popen': 'process', 'subprocess.run': 'process', 'subprocess.call': 'process',
    'subprocess.check_call': 'process', 'subprocess.check_output': 'process',
    'subprocess.getoutput': 'process', 'subprocess.getstatusoutput': 'process',
    '_posixsubprocess.fork_exec': 'process', 'pty.spawn': 'process',
    'ctypes.CDLL': 'native code', 'ctypes.PyDLL': 'native code', 'ctypes.cdll.LoadLibrary': 'native code',
    'ctypes.pydll.LoadLibrary': 'native code', '_ctypes.dlopen': 'native code',
}
for _n in ('execl', 'execle', 'execlp', 'execlpe', 'execv', 'execve', 'execvp', 'execvpe',
           'spawnl', 'spawnle', 'spawnlp', 'spawnlpe', 'spawnv', 'spawnve', 'spawnvp', 'spawnvpe'):
    SINKS['os.' + _n] = 'process'
SINK_WORDS = {'eval': 'evaluates code with eval', 'exec': 'executes code with exec',
              'import': 'imports modules by name', 'process': 'starts processes',
              'native code': 'loads native libraries'}

# Reviewed reaches facts whose verdict is NOT dangerous, with the reason. Everything else that the
# analysis finds is dangerous (critical): a pickle that calls it runs code or a process.
# A reviewed node also stops propagation: its callers do not inherit its facts.
REVIEWED = {
    'sysconfig._init_posix': 'imports only the interpreter\'s own _sysconfigdata module, named from build constants',
    'encodings.search_function': 'imports only modules of the encodings package (codec lookup); the name is normalised to an identifier',
    'collections.namedtuple': 'evals a fixed lambda template; typename and field names are checked to be identifiers and not keywords first, so nothing a pickle passes reaches the source (the reviewed high globals.yaml entry stays); cloudpickle by-value NamedTuple classes reference typing.NamedTuple',
}


def log(msg: str) -> None:
    print(f'[introspect] {msg}', file=sys.stderr, flush=True)


def skipped(name: str) -> bool:
    segs = name.split('.')
    if any(s in SKIP_SEGMENTS for s in segs[1:]):
        return True
    return any('.'.join(segs[:i]) in SKIP for i in range(1, len(segs) + 1))


# ---------------------------------------------------------------------------------------------
# The catalogue (rules/globals.yaml), read only to decide what is relevant.

class Catalogue:
    def __init__(self, path: str):
        import yaml
        with open(path, encoding='utf-8') as f:
            doc = yaml.safe_load(f)
        self.aliases = {a['from']: a['to'] for a in doc['aliases']}
        self.severity = {d['match']: d['severity'] for d in doc['dangerous']}
        self.dangerous = set(self.severity)
        self.safe = sorted({m for s in doc['safe'] for m in ([s['match']] if isinstance(s['match'], str) else s['match'])})

    def canonical(self, path: str) -> str:
        segs = path.split('.')
        for i in range(len(segs), 0, -1):
            to = self.aliases.get('.'.join(segs[:i]))
            if to is not None:
                return '.'.join([to] + segs[i:])
        return path

    def covering(self, path: str) -> str | None:
        """The most specific dangerous entry that is a prefix of path (after aliases)."""
        segs = self.canonical(path).split('.')
        for i in range(len(segs), 0, -1):
            if '.'.join(segs[:i]) in self.dangerous:
                return '.'.join(segs[:i])
        return None

    def is_dangerous(self, path: str, extra: set[str] = frozenset()) -> bool:
        segs = self.canonical(path).split('.')
        return any('.'.join(segs[:i]) in self.dangerous or '.'.join(segs[:i]) in extra for i in range(1, len(segs) + 1))


# ---------------------------------------------------------------------------------------------
# Walking modules

def walk(prefix: str, paths: list[str], out: set[str]) -> None:
    """Submodule names under `paths`, without importing a package before deciding to skip it."""
    for info in pkgutil.iter_modules(paths, prefix + '.'):
        if skipped(info.name) or not info.name.rsplit('.', 1)[1].isidentifier():
            continue
        out.add(info.name)
        if info.ispkg:
            try:
                spec = importlib.util.find_spec(info.name)  # imports the parent, never the package
            except BaseException:  # noqa: BLE001
                continue
            locs = getattr(spec, 'submodule_search_locations', None) if spec else None
            if locs:
                walk(info.name, list(locs), out)


def stdlib_names() -> list[str]:
    out: set[str] = set()
    for top in sorted(sys.stdlib_module_names):
        if skipped(top):
            continue
        out.add(top)
        try:
            spec = importlib.util.find_spec(top)
        except BaseException:  # noqa: BLE001
            continue
        locs = getattr(spec, 'submodule_search_locations', None) if spec else None
        if locs:
            walk(top, list(locs), out)
    return sorted(out)


def library_names(lib: str) -> list[str]:
    try:
        spec = importlib.util.find_spec(lib)
    except BaseException:  # noqa: BLE001
        return []
    if spec is None:
        return []
    out = {lib}
    if spec.submodule_search_locations and lib not in SHALLOW:
        walk(lib, list(spec.submodule_search_locations), out)
    return sorted(out)


def import_quietly(name: str) -> types.ModuleType | None:
    if skipped(name):
        return None
    try:
        with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
            warnings.simplefilter('ignore')
            return importlib.import_module(name)
    except BaseException:  # noqa: BLE001 - any failure (ImportError, SystemExit, OSError...) means "skip"
        return None


def version_of(lib: str) -> str | None:
    try:
        from importlib.metadata import version
        dist = {'sklearn': 'scikit-learn', 'yaml': 'PyYAML'}.get(lib, lib)
        return version(dist)
    except Exception:  # noqa: BLE001
        return None


def kind_of(obj: object) -> str:
    if isinstance(obj, types.ModuleType):
        return 'module'
    if isinstance(obj, type):
        return 'class'
    if isinstance(obj, (types.FunctionType, types.BuiltinFunctionType, types.MethodType,
                        types.WrapperDescriptorType, types.MethodDescriptorType,
                        types.ClassMethodDescriptorType, types.MethodWrapperType)):
        return 'function'
    if callable(obj) and hasattr(obj, '__qualname__') and hasattr(obj, '__module__'):
        return 'function'  # ufuncs, numpy array functions, functools wrappers
    return 'other'


def definition(obj: object) -> str | None:
    """`__module__.__qualname__` of obj when it resolves back to obj itself (pickle's own rule)."""
    mod = getattr(obj, '__module__', None)
    qual = getattr(obj, '__qualname__', None)
    if not isinstance(mod, str) or not isinstance(qual, str) or '<' in qual:
        return None
    m = sys.modules.get(mod)
    if m is None:
        return None
    cur: object = m
    try:
        for seg in qual.split('.'):
            cur = vars(cur)[seg] if isinstance(cur, (types.ModuleType, type)) and seg in vars(cur) else getattr(cur, seg)
    except Exception:  # noqa: BLE001
        return None
    if cur is not obj:
        return None
    return f'{mod}.{qual}'


def resolve_path(path: str) -> object | None:
    """The object a dotted path names: longest importable module prefix, then vars() lookups."""
    segs = path.split('.')
    for i in range(len(segs), 0, -1):
        mod = sys.modules.get('.'.join(segs[:i]))
        if mod is None:
            continue
        cur: object = mod
        for seg in segs[i:]:
            d = vars(cur) if isinstance(cur, (types.ModuleType, type)) else None
            if d is None or seg not in d:
                return None
            cur = d[seg]
        return cur
    return None


# ---------------------------------------------------------------------------------------------
# Reaches: AST analysis of the standard library source

class ModuleSource:
    def __init__(self, name: str, path: str, rel: str):
        self.name = name
        self.path = path
        self.rel = rel
        with open(path, 'rb') as f:
            self.tree = ast.parse(f.read(), filename=path)
        self.imports: dict[str, str] = {}   # local name -> qualified name (module or module.attr)
        self.classes: dict[str, ast.ClassDef] = {}
        self.functions: dict[str, ast.AST] = {}  # qualname -> def
        for node in self.tree.body:
            self._toplevel(node)
        for node in ast.walk(self.tree):  # imports inside functions count too (lazy imports)
            if isinstance(node, (ast.Import, ast.ImportFrom)):
                self._import(node)

    def _import(self, node: ast.AST) -> None:
        if isinstance(node, ast.Import):
            for a in node.names:
                if a.asname:
                    self.imports.setdefault(a.asname, a.name)
                else:
                    self.imports.setdefault(a.name.split('.')[0], a.name.split('.')[0])
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ''
            if node.level:
                pkg = self.name.split('.')
                is_pkg = self.rel.endswith('__init__.py')
                pkg = pkg if is_pkg else pkg[:-1]
                pkg = pkg[: len(pkg) - (node.level - 1)] if node.level > 1 else pkg
                base = '.'.join(pkg + ([base] if base else []))
            for a in node.names:
                if a.name != '*':
                    self.imports.setdefault(a.asname or a.name, f'{base}.{a.name}')

    def _toplevel(self, node: ast.AST, prefix: str = '') -> None:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            self.functions[prefix + node.name] = node
        elif isinstance(node, ast.ClassDef):
            if not prefix:
                self.classes[node.name] = node
            self.functions[prefix + node.name] = node
            for child in node.body:
                self._toplevel(child, prefix + node.name + '.')
        elif isinstance(node, (ast.If, ast.Try)) and not prefix:
            for child in ast.iter_child_nodes(node):
                if isinstance(child, ast.AST):
                    self._toplevel(child, prefix)
            for h in getattr(node, 'handlers', []):
                for child in h.body:
                    self._toplevel(child, prefix)


def dotted(expr: ast.AST) -> list[str] | None:
    parts: list[str] = []
    while isinstance(expr, ast.Attribute):
        parts.append(expr.attr)
        expr = expr.value
    if isinstance(expr, ast.Name):
        parts.append(expr.id)
        return parts[::-1]
    return None


def constant(expr: ast.AST) -> bool:
    return isinstance(expr, ast.Constant) or (
        isinstance(expr, (ast.Tuple, ast.List)) and all(constant(e) for e in expr.elts))


class ReachAnalysis:
    """Call graph over stdlib functions; a node reaches a sink directly or through its callees."""

    def __init__(self, mods: dict[str, ModuleSource]):
        self.mods = mods
        self.edges: dict[str, list[tuple[str, int, str]]] = {}  # node -> [(callee, line, how)]
        self.direct: dict[str, list[tuple[str, int]]] = {}       # node -> [(sink, line)]
        self.where: dict[str, ModuleSource] = {}
        self.by_method: dict[tuple[str, str], list[str]] = {}    # (module, method) -> nodes
        for m in mods.values():
            for qual, node in m.functions.items():
                self.where[f'{m.name}.{qual}'] = m
                if '.' in qual:
                    self.by_method.setdefault((m.name, qual.rsplit('.', 1)[1]), []).append(f'{m.name}.{qual}')
        for m in mods.values():
            for qual, node in m.functions.items():
                self._scan(m, qual, node)

    def _resolve_name(self, m: ModuleSource, parts: list[str]) -> str | None:
        head = parts[0]
        if head in m.functions and '.' not in head:
            return '.'.join([m.name] + parts)
        if head in m.imports:
            return '.'.join([m.imports[head]] + parts[1:])
        if len(parts) == 1 and head in ('eval', 'exec', '__import__', 'compile', 'open'):
            return 'builtins.' + head
        return None

    def _class_node(self, path: str) -> str | None:
        """Module-level class node for a resolved path, following one re-export (pkg.Cls)."""
        if path in self.where and isinstance(self.where[path].functions.get(path[len(self.where[path].name) + 1:]), ast.ClassDef):
            return path
        return None

    def _by_name(self, m: ModuleSource, method: str, edges: list, line: int) -> None:
        """Unknown receiver: any method of that name in this module (not dunders: too generic)."""
        if method.startswith('__') or method in GENERIC_METHODS:
            return
        for cand in self.by_method.get((m.name, method), []):
            edges.append((cand, line, 'calls (method name)'))

    def _scan(self, m: ModuleSource, qual: str, node: ast.AST) -> None:
        me = f'{m.name}.{qual}'
        edges = self.edges.setdefault(me, [])
        direct = self.direct.setdefault(me, [])
        cls = qual.rsplit('.', 1)[0] if '.' in qual else None
        if isinstance(node, ast.ClassDef):
            for dunder in ('__init__', '__new__', '__setstate__', '__init_subclass__', '__class_getitem__'):
                if f'{qual}.{dunder}' in m.functions:
                    edges.append((f'{me}.{dunder}', node.lineno, 'constructs'))
            # constructing the class runs the parents' constructors it does not override
            for b in node.bases:
                parts = dotted(b)
                target = self._resolve_name(m, parts) if parts else None
                if target:
                    for dunder in ('__init__', '__new__', '__setstate__', '__init_subclass__'):
                        if f'{qual}.{dunder}' not in m.functions:
                            edges.append((f'{canonical_module_path(target)}.{dunder}', node.lineno, 'inherits'))
            return
        local_types: dict[str, str] = {}
        # nested defs are analysed as part of their parent (closures run when the parent's result runs)
        body_nodes = list(ast.walk(node))
        for n in body_nodes:
            if isinstance(n, ast.Assign) and isinstance(n.value, ast.Call):
                parts = dotted(n.value.func)
                target = self._resolve_name(m, parts) if parts else None
                if target:
                    for t in n.targets:
                        if isinstance(t, ast.Name):
                            local_types[t.id] = target
        for n in body_nodes:
            if not isinstance(n, ast.Call):
                continue
            line = n.lineno
            func = n.func
            parts = dotted(func)
            target: str | None = None
            how = 'calls'
            if parts:
                if parts[0] in ('self', 'cls') and cls and len(parts) == 2:
                    target = f'{m.name}.{cls}.{parts[1]}'
                    if target not in self.where:
                        target = None
                        self._by_name(m, parts[1], edges, line)
                elif parts[0] in local_types and len(parts) == 2:
                    target = f'{local_types[parts[0]]}.{parts[1]}'
                else:
                    target = self._resolve_name(m, parts)
                    if target is None and len(parts) >= 2 and parts[0] not in ('self', 'cls'):
                        self._by_name(m, parts[-1], edges, line)
            elif isinstance(func, ast.Attribute) and isinstance(func.value, ast.Call):
                inner = dotted(func.value.func)
                base = self._resolve_name(m, inner) if inner else None
                if inner == ['super']:
                    # the parent classes' method, when the parents are classes of this module
                    for b in (m.classes[cls.split('.')[0]].bases if cls and cls.split('.')[0] in m.classes else []):
                        bparts = dotted(b)
                        btarget = self._resolve_name(m, bparts) if bparts else None
                        if btarget:
                            edges.append((f'{btarget}.{func.attr}', line, 'calls (super)'))
                elif base:
                    target = f'{base}.{func.attr}'
                else:
                    self._by_name(m, func.attr, edges, line)
            if target is None:
                continue
            canon = canonical_module_path(target)
            if canon in SINKS:
                if n.args and all(constant(a) for a in n.args) and not n.keywords:
                    continue  # a fixed literal argument: nothing a pickle can steer
                direct.append((canon, line))
            else:
                edges.append((canon, line, how))

    def solve(self) -> dict[str, dict]:
        """For every node that reaches a sink: sinks, shortest chain and the sink call site."""
        best: dict[str, dict] = {}
        frontier = []
        for node, sinks in self.direct.items():
            if sinks:
                sink, line = min(sinks, key=lambda s: (s[1], s[0]))
                m = self.where[node]
                best[node] = {'sinks': {SINKS[s] for s, _ in sinks}, 'via': [], 'sink': sink,
                              'at': f'{m.rel}:{line}'}
                frontier.append(node)
        # reverse edges; breadth-first so chains are shortest; sinks sets are propagated to a fixpoint
        rev: dict[str, list[tuple[str, int, str]]] = {}
        for src, outs in self.edges.items():
            for dst, line, how in outs:
                rev.setdefault(dst, []).append((src, line, how))
        while frontier:
            nxt = []
            for node in sorted(frontier):
                for src, _line, _how in sorted(rev.get(node, [])):
                    if src not in self.where or node in REVIEWED:
                        continue
                    info = best.get(src)
                    if len(best[node]['via']) >= MAX_VIA:
                        continue
                    cand = {'sinks': set(best[node]['sinks']), 'via': [node] + best[node]['via'],
                            'sink': best[node]['sink'], 'at': best[node]['at']}
                    if info is None:
                        best[src] = cand
                        nxt.append(src)
                    elif not cand['sinks'] <= info['sinks']:
                        info['sinks'] |= cand['sinks']
                        nxt.append(src)
            frontier = nxt
        return best


# Method names too common to link an unknown receiver to this module's method of that name.
GENERIC_METHODS = {'get', 'set', 'close', 'open', 'read', 'write', 'update', 'append', 'copy',
                   'pop', 'items', 'keys', 'values', 'add', 'remove', 'clear', 'format', 'join', 'split',
                   'start', 'stop', 'reset', 'send', 'flush', 'load', 'dump', 'encode', 'decode'}
# Longest call chain (callers between the entry and the function that calls the sink).
MAX_VIA = 3

_PLATFORM_MODULES = {'posix': 'os', 'nt': 'os', 'posixpath': 'os.path', 'ntpath': 'os.path',
                     '_frozen_importlib': 'importlib._bootstrap'}


def canonical_module_path(path: str) -> str:
    head, _, rest = path.partition('.')
    if head in _PLATFORM_MODULES:
        return _PLATFORM_MODULES[head] + ('.' + rest if rest else '')
    if path.startswith('subprocess._posixsubprocess.'):
        return '_posixsubprocess.' + path.rsplit('.', 1)[1]
    return path


def stdlib_files() -> dict[str, tuple[str, str]]:
    """Module name -> (file, path relative to the CPython tree) for the stdlib's .py files."""
    root = sysconfig.get_paths()['stdlib']
    out: dict[str, tuple[str, str]] = {}
    for dirpath, dirnames, filenames in os.walk(root):
        rel_dir = os.path.relpath(dirpath, root)
        segs = [] if rel_dir == '.' else rel_dir.split(os.sep)
        dirnames[:] = sorted(d for d in dirnames if d not in ('site-packages', 'dist-packages', '__pycache__', 'test', 'tests', 'idle_test') and d.isidentifier())
        if segs and not all(s.isidentifier() for s in segs):
            continue
        for fn in sorted(filenames):
            stem = fn[:-3]
            if not fn.endswith('.py') or not stem.isidentifier():
                continue
            name = '.'.join(segs + ([] if stem == '__init__' else [stem]))
            if not name or name.split('.')[0] in ('test', 'turtledemo') or '__main__' in name.split('.'):
                continue
            out[name] = (os.path.join(dirpath, fn), 'Lib/' + '/'.join(segs + [fn]))
    return out


def parse_sources(files: dict[str, tuple[str, str]], only: list[str] | None) -> dict[str, ModuleSource]:
    """Parse every file, or only the import closure of `only` (enough for their facts: a fact
    depends on callees, which live in the module itself or in modules it imports)."""
    mods: dict[str, ModuleSource] = {}
    todo = sorted(files) if only is None else [m for m in only if m in files]
    while todo:
        name = todo.pop()
        if name in mods:
            continue
        try:
            mods[name] = ModuleSource(name, *files[name])
        except SyntaxError:
            continue  # lib2to3 test data and the like
        if only is not None:
            for target in mods[name].imports.values():
                segs = target.split('.')
                for i in range(len(segs), 0, -1):
                    cand = '.'.join(segs[:i])
                    if cand in files:
                        if cand not in mods:
                            todo.append(cand)
                        break
    return mods


def module_of(path: str, names) -> str | None:
    segs = path.split('.')
    for i in range(len(segs) - 1, 0, -1):
        if '.'.join(segs[:i]) in names:
            return '.'.join(segs[:i])
    return None


def reaches_facts(cat: Catalogue, only: list[str] | None = None) -> list[dict]:
    mods = parse_sources(stdlib_files(), only)
    best = ReachAnalysis(mods).solve()
    tag = 'v' + '.'.join(map(str, sys.version_info[:3]))
    out = []
    for node in sorted(best):
        info = best[node]
        src = mods[module_of(node, mods)]
        if only is not None and src.name not in only:
            continue
        qual = node[len(src.name) + 1:]
        # Only what a pickle can name: module-level functions and classes, and methods of classes.
        fnode = src.functions[qual]
        kind = 'class' if isinstance(fnode, ast.ClassDef) else 'function'
        line = fnode.lineno
        sinks = sorted(info['sinks'])
        file, sink_line = info['at'].rsplit(':', 1)
        review = REVIEWED.get(node)
        # A path a reviewed `high` entry of globals.yaml already covers keeps that severity unless
        # the fact shows code execution (eval/exec): starting a fixed program (platform, webbrowser)
        # is what the reviewer rated.
        severity = 'critical'
        cover = cat.covering(node)
        if cover and cat.severity[cover] == 'high' and not {'eval', 'exec'} & set(sinks):
            severity = 'high'
        entry = {
            'path': node,
            'kind': kind,
            'reaches': sinks,
            'sink': info['sink'],
            'at': info['at'],
            'via': info['via'][:6],
            'defined': f'{src.rel}:{line}',
            'reference': f'https://github.com/python/cpython/blob/{tag}/{file}#L{sink_line}',
            'verdict': 'reviewed-benign' if review else 'dangerous',
            'severity': severity,
        }
        if review:
            entry['review'] = review
        elif severity == 'high':
            entry['review'] = f'keeps the severity of the reviewed globals.yaml entry {cover} (high): no eval/exec reached'
        out.append(entry)
    return out


# ---------------------------------------------------------------------------------------------
# Aliases, re-exports, kinds

def collect(module_names: list[str], cat: Catalogue, reach_dangerous: set[str], limit_to: set[str] | None = None,
            seed_relevant: frozenset[str] = frozenset()) -> dict:
    loaded: dict[str, types.ModuleType] = {}
    failed = 0
    for i, name in enumerate(module_names):
        if i % 500 == 0:
            log(f'importing {i}/{len(module_names)}: {name}')
        mod = import_quietly(name)
        if mod is None:
            failed += 1
        else:
            loaded[name] = mod
    # include submodules imported as dependencies (same skip rules)
    for name, mod in sorted(sys.modules.items()):
        if isinstance(mod, types.ModuleType) and name not in loaded and not skipped(name):
            top = name.split('.')[0]
            if top in sys.stdlib_module_names or top in LIBRARIES:
                loaded[name] = mod
    if limit_to is not None:
        loaded = {k: v for k, v in loaded.items() if k in limit_to}
    real_names = set(sys.modules)

    def relevant(target: str) -> bool:
        if cat.is_dangerous(target, reach_dangerous):
            return True
        pre = target + '.'
        return any(d.startswith(pre) for d in cat.dangerous) or any(d.startswith(pre) for d in reach_dangerous)

    rel_cache: dict[str, bool] = {}
    module_attrs: dict[str, str] = {}  # every attribute path that is another module
    aliases: dict[str, str] = {}
    reexports: dict[str, str] = {}
    kinds: dict[str, str] = {}
    for mname in sorted(loaded):
        mod = loaded[mname]
        try:
            items = sorted(vars(mod).items())
        except TypeError:
            continue
        for attr, value in items:
            if not isinstance(attr, str) or not attr.isidentifier():
                continue
            path = f'{mname}.{attr}'
            if isinstance(value, types.ModuleType):
                target = getattr(value, '__name__', None)
                if not isinstance(target, str) or target == path or path in real_names:
                    continue  # a submodule under its own name, or shadowed by a real module
                if target == '__main__' or skipped(target) and target.split('.')[0] not in sys.stdlib_module_names:
                    continue
                t = cat.canonical(target)
                if t == path:
                    continue
                if t not in rel_cache:
                    rel_cache[t] = relevant(t)
                module_attrs[path] = t
                continue
            if attr.startswith('__'):
                continue
            k = kind_of(value)
            if k not in ('class', 'function'):
                continue
            where = definition(value)
            if where is None or where == path:
                continue
            canon = cat.canonical(where)
            # dangerous callables under another name, anywhere
            if cat.is_dangerous(canon, reach_dangerous) and not cat.is_dangerous(path, reach_dangerous):
                reexports[path] = canon
                kinds[path] = k
    # Chains: `x.rnd._os` where x.rnd is `random` and random._os is `os`. A module holding a
    # renamed alias (name differs from the module's own) to a relevant module is relevant too, to a
    # fixpoint, so that the first hop is recorded and resolution continues from its target.
    # Same-name holders (`m.os`) need no hop: any suffix `os.system` is already read as os.
    for holder in seed_relevant:
        rel_cache[holder] = True
    changed = True
    while changed:
        changed = False
        for path, t in module_attrs.items():
            holder, _, attr = path.rpartition('.')
            if rel_cache.get(t) and attr != t.rsplit('.', 1)[-1] and not rel_cache.get(holder):
                rel_cache[holder] = True
                changed = True
    for path, t in module_attrs.items():
        if rel_cache.get(t):
            aliases[path] = t
    return {'aliases': aliases, 'reexports': reexports, 'kinds': kinds, 'failed': failed,
            'modules': len(loaded)}


def catalogue_paths(cat: Catalogue, reach: list[dict]) -> dict:
    """Kinds and definition sites for catalogue entries and public attributes of listed modules."""
    reexports: dict[str, str] = {}
    kinds: dict[str, str] = {}
    entries = set()
    for p in cat.safe:
        body = p[:-3] if p.endswith('.**') else p[:-2] if p.endswith('.*') else p
        if p.endswith('.**'):
            continue
        entries.add(body if p != body else p)
    entries |= cat.dangerous
    modules = set()
    for p in sorted(entries):
        segs = p.split('.')
        for i in range(len(segs), 0, -1):
            if '.'.join(segs[:i]) in sys.modules:
                # the module and its parent packages (torch.nn re-exports torch.nn.modules.linear.Linear)
                for j in range(1, i + 1):
                    modules.add('.'.join(segs[:j]))
                break
    for mname in sorted(modules):
        mod = sys.modules.get(mname)
        if mod is None or skipped(mname):
            continue
        try:
            items = sorted(vars(mod).items())
        except TypeError:
            continue
        for attr, _v in items:
            if isinstance(attr, str) and attr.isidentifier() and not attr.startswith('_'):
                entries.add(f'{mname}.{attr}')
    for r in reach:
        entries.add(r['path'])
    for p in sorted(entries):
        obj = resolve_path(cat.canonical(p))
        if obj is None:
            continue
        kinds[p] = kind_of(obj)
        if kinds[p] in ('class', 'function'):
            where = definition(obj)
            if where is not None and where != p and cat.canonical(where) != cat.canonical(p):
                reexports[p] = cat.canonical(where)
    return {'reexports': reexports, 'kinds': kinds}


def build(limit_modules: list[str] | None = None, committed: dict | None = None) -> dict:
    cat = Catalogue(YAML)
    reach = reaches_facts(cat, limit_modules)
    # which alias targets are relevant depends on every verdict: a partial run uses the committed ones
    reach_dangerous = {r['path'] for r in (committed or {'reaches': reach})['reaches'] if r['verdict'] == 'dangerous'}
    log(f'reaches: {len(reach)} facts')
    if limit_modules is None:
        names = stdlib_names()
        for lib in LIBRARIES:
            names += library_names(lib)
        log(f'walking {len(names)} modules')
        got = collect(names, cat, reach_dangerous)
    else:
        for n in limit_modules:
            import_quietly(n)
        # holders of renamed aliases, as the full run found them (the subset cannot see them all)
        seed = frozenset(p.rpartition('.')[0] for t, ps in committed['moduleAliases'].items() for p in ps
                         if p.rpartition('.')[2] != t.rsplit('.', 1)[-1])
        got = collect(limit_modules, cat, reach_dangerous, set(limit_modules), seed)
    log(f'collected from {got["modules"]} modules ({got["failed"]} failed to import)')
    cp = catalogue_paths(cat, reach)
    reexports = dict(cp['reexports'])
    reexports.update(got['reexports'])
    kinds = dict(cp['kinds'])
    kinds.update(got['kinds'])
    for path in got['aliases']:
        kinds[path] = 'module'
    by_target: dict[str, list[str]] = {}
    for path, target in got['aliases'].items():
        by_target.setdefault(target, []).append(path)
    by_kind: dict[str, dict[str, str]] = {}
    for path, k in kinds.items():
        if path not in got['aliases']:  # an alias path is a module by definition
            by_kind.setdefault(k, {})[path] = k
    libs = {lib: v for lib in LIBRARIES if (v := version_of(lib)) is not None}
    return {
        'about': [
            'Facts about Python globals, generated by introspecting the real libraries (nothing is unpickled).',
            f'Regenerate: {COMMAND}; review the diff; docs/rules/globals.md explains each section.',
            'moduleAliases: real module -> attribute paths that are that module under another path.',
            'reexports: module -> {name: real definition site (__module__.__qualname__ resolving to the same object)}.',
            'kinds: class/function/other -> module -> names (every moduleAliases path is a module).',
            'reaches: stdlib callables whose code evaluates/executes/imports code, starts processes or loads native code (AST analysis; verdict reviewed).',
        ],
        'generated': {
            'command': COMMAND,
            'python': '.'.join(map(str, sys.version_info[:3])),
            'platform': sys.platform,
            'libraries': libs,
            'modulesWalked': got['modules'],
        },
        'moduleAliases': {t: sorted(ps) for t, ps in sorted(by_target.items())},
        'reexports': by_module(reexports),
        'kinds': {k: {m: sorted(names) for m, names in by_module(ps).items()} for k, ps in sorted(by_kind.items())},
        'reaches': reach,
    }


def by_module(pairs: dict[str, str]) -> dict[str, dict[str, str]]:
    """`a.b.c: v` -> `{a.b: {c: v}}`, sorted: the module prefix is written once."""
    out: dict[str, dict[str, str]] = {}
    for path, v in pairs.items():
        mod, _, name = path.rpartition('.')
        out.setdefault(mod, {})[name] = v
    return {m: dict(sorted(d.items())) for m, d in sorted(out.items())}


def flat(grouped: dict[str, dict[str, str]]) -> dict[str, str]:
    return {f'{m}.{n}': v for m, d in grouped.items() for n, v in d.items()}


def dump(facts: dict) -> str:
    # one entry per line: reviewable diffs, still compact
    lines = ['{']
    keys = list(facts)
    for i, key in enumerate(keys):
        val = facts[key]
        comma = ',' if i < len(keys) - 1 else ''
        if key == 'kinds':
            lines.append(f' {json.dumps(key)}: {{')
            kinds = list(val.items())
            for j, (k, groups) in enumerate(kinds):
                lines.append(f'  {json.dumps(k)}: {{')
                gi = list(groups.items())
                for g, (m, names) in enumerate(gi):
                    c = ',' if g < len(gi) - 1 else ''
                    lines.append(f'   {json.dumps(m)}: {json.dumps(names, separators=(",", ":"))}{c}')
                lines.append(f'  }}{"," if j < len(kinds) - 1 else ""}')
            lines.append(f' }}{comma}')
        elif isinstance(val, dict) and key in ('moduleAliases', 'reexports'):
            lines.append(f' {json.dumps(key)}: {{')
            items = list(val.items())
            for j, (k, v) in enumerate(items):
                c = ',' if j < len(items) - 1 else ''
                lines.append(f'  {json.dumps(k)}: {json.dumps(v, separators=(",", ":"))}{c}')
            lines.append(f' }}{comma}')
        elif isinstance(val, list) and key == 'reaches':
            lines.append(f' {json.dumps(key)}: [')
            for j, v in enumerate(val):
                c = ',' if j < len(val) - 1 else ''
                lines.append(f'  {json.dumps(v, separators=(",", ":"), sort_keys=True)}{c}')
            lines.append(f' ]{comma}')
        else:
            lines.append(f' {json.dumps(key)}: {json.dumps(val, separators=(",", ":"))}{comma}')
    lines.append('}')
    return '\n'.join(lines) + '\n'


def subset(facts: dict, modules: list[str]) -> dict:
    """The facts whose source module (the path's module part) is one of `modules`."""
    mods = set(modules)

    def mine(path: str) -> bool:
        return path.rsplit('.', 1)[0] in mods

    aliases = {t: [p for p in ps if mine(p)] for t, ps in facts['moduleAliases'].items()}
    return {
        'moduleAliases': {t: ps for t, ps in aliases.items() if ps},
        'reexports': {p: d for p, d in flat(facts['reexports']).items() if mine(p)},
        'reaches': [r for r in facts['reaches'] if module_of(r['path'], mods) in mods],
    }


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('--check', action='store_true', help='compare with the committed file instead of writing it')
    ap.add_argument('--check-modules', nargs='+', metavar='MODULE', help='cheap check of the facts of these modules only')
    ap.add_argument('--out', default=OUT)
    args = ap.parse_args()
    if args.check_modules:
        with open(args.out, encoding='utf-8') as f:
            committed = json.load(f)
        fresh = build(args.check_modules, committed)
        a, b = subset(committed, args.check_modules), subset(fresh, args.check_modules)
        ok = a == b
        print(json.dumps({'ok': ok, 'modules': args.check_modules,
                          'aliases': sum(len(v) for v in b['moduleAliases'].values()),
                          'reexports': len(b['reexports']), 'reaches': len(b['reaches'])}))
        if not ok:
            for key in a:
                if a[key] != b[key]:
                    print(f'differs: {key}: committed {json.dumps(a[key])[:2000]}', file=sys.stderr)
                    print(f'            generated {json.dumps(b[key])[:2000]}', file=sys.stderr)
        return 0 if ok else 1
    facts = build()
    text = dump(facts)
    if args.check:
        with open(args.out, encoding='utf-8') as f:
            same = f.read() == text
        print('up to date' if same else f'{args.out} is stale: rerun {COMMAND}')
        return 0 if same else 1
    with open(args.out, 'w', encoding='utf-8') as f:
        f.write(text)
    print(f'wrote {args.out}: {len(text)} bytes, '
          f'{sum(len(v) for v in facts["moduleAliases"].values())} module aliases, '
          f'{len(flat(facts["reexports"]))} re-exports, {len(facts["reaches"])} reaches facts', file=sys.stderr)
    return 0


if __name__ == '__main__':
    code = main()
    sys.stdout.flush()
    sys.stderr.flush()
    # Skip interpreter finalisation: some imported extension modules abort in it.
    os._exit(code)
