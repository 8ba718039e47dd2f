import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  canonicalName,
  defaultGlobalCatalogue,
  defaultGlobalsPath,
  loadGlobalCatalogue,
  parseGlobalRules,
} from '../../src/rules/globals.js';

const cat = defaultGlobalCatalogue();
const rules = cat.rules;

/** A concrete global for a safe pattern (`a.*`/`a.**` -> `a.Probe`). */
function concrete(pattern: string): string {
  return pattern.replace(/\.\*\*?$/, '.Probe');
}

function split(path: string): [string, string] {
  const i = path.lastIndexOf('.');
  return i < 0 ? [path, 'x'] : [path.slice(0, i), path.slice(i + 1)];
}

describe('catalogue file', () => {
  it('loads with a content version', () => {
    expect(cat.version).toMatch(/^1\+[0-9a-f]{12}$/);
    expect(defaultGlobalCatalogue()).toBe(cat); // cached
    expect(loadGlobalCatalogue(defaultGlobalsPath()).version).toBe(cat.version);
  });

  it('has a useful number of entries', () => {
    expect(rules.aliases.length).toBeGreaterThanOrEqual(40);
    expect(rules.dangerous.length).toBeGreaterThanOrEqual(150);
    expect(rules.safe.flatMap((s) => s.match).length).toBeGreaterThanOrEqual(300);
  });

  it('gives every entry a reason and at least one reference', () => {
    const all = [...rules.aliases, ...rules.dangerous, ...rules.dangerousAttributes, ...rules.safe];
    for (const e of all) {
      expect(e.reason.length, JSON.stringify(e)).toBeGreaterThan(10);
      expect(e.references.length, JSON.stringify(e)).toBeGreaterThan(0);
      for (const r of e.references) expect(r.trim()).not.toBe('');
    }
    for (const s of rules.safe) expect(s.seenIn.length, s.match[0]).toBeGreaterThan(0);
  });

  it('never lets a dangerous prefix or attribute reach a safe entry through its full path', () => {
    for (const s of rules.safe) {
      for (const pattern of s.match) {
        const r = cat.classify(...split(concrete(pattern)));
        expect(r.verdict, pattern).toBe('safe');
        const segs = concrete(pattern).split('.').slice(0, pattern === concrete(pattern) ? undefined : -1);
        for (const d of rules.dangerous) {
          const ds = d.match.split('.');
          const prefix = ds.every((x, i) => segs[i] === x);
          expect(prefix, `${pattern} vs dangerous ${d.match}`).toBe(false);
        }
        for (const a of rules.dangerousAttributes) expect(segs.slice(1)).not.toContain(a.match);
      }
    }
  });

  it('keeps the safe entries that shadow a dangerous suffix explicit', () => {
    // numpy.random._pickle.* and torch.jit._pickle.* read as `_pickle` (-> pickle) + name on a
    // suffix; the full paths are numpy's RNG and TorchScript's list helper modules, resolved by
    // import, not the pickle module. Any new entry here needs the same scrutiny.
    expect(cat.shadowedSafeEntries().map((s) => `${s.safe} ~ ${s.dangerous}`).sort()).toEqual([
      'numpy.random._pickle.__bit_generator_ctor ~ pickle',
      'numpy.random._pickle.__generator_ctor ~ pickle',
      'numpy.random._pickle.__randomstate_ctor ~ pickle',
      'torch.jit._pickle.build_boollist ~ pickle',
      'torch.jit._pickle.build_doublelist ~ pickle',
      'torch.jit._pickle.build_intlist ~ pickle',
      'torch.jit._pickle.build_tensor_from_id ~ pickle',
      'torch.jit._pickle.build_tensorlist ~ pickle',
      'torch.jit._pickle.restore_type_tag ~ pickle',
    ]);
  });

  it('writes safe entries and alias targets canonically', () => {
    for (const a of rules.aliases) {
      const [m, n] = a.to.includes('.') ? split(a.to) : [a.to, 'x'];
      expect(canonicalName(m, n), a.from).toBe(a.to.includes('.') ? a.to : `${a.to}.x`);
    }
    for (const s of rules.safe) for (const p of s.match) expect(canonicalName(...split(concrete(p)))).toBe(concrete(p));
  });

  it('qualifies every dangerous entry with a module that is not an alias source', () => {
    const aliasSources = new Set(rules.aliases.map((a) => a.from));
    for (const d of rules.dangerous) expect(aliasSources.has(d.match), d.match).toBe(false);
  });
});

describe('gadgets from threats.md section 3', () => {
  const cases: [string, string, string, 'critical' | 'high'][] = [
    // standard library
    ['pip', 'main', 'pip.main', 'critical'],
    ['runpy', '_run_code', 'runpy._run_code', 'critical'],
    ['bdb', 'Bdb.run', 'bdb.Bdb.run', 'critical'],
    ['pdb', 'run', 'pdb.run', 'critical'],
    ['timeit', 'timeit', 'timeit.timeit', 'critical'],
    ['cProfile', 'run', 'cProfile.run', 'critical'],
    ['profile', 'run', 'profile.run', 'critical'],
    ['trace', 'Trace.run', 'trace.Trace.run', 'critical'],
    ['code', 'InteractiveInterpreter.runcode', 'code.InteractiveInterpreter.runcode', 'critical'],
    ['idlelib.pyshell', 'main', 'idlelib.pyshell.main', 'critical'],
    ['lib2to3.pgen2.driver', 'load_grammar', 'lib2to3.pgen2.driver.load_grammar', 'critical'],
    ['doctest', 'debug_script', 'doctest.debug_script', 'critical'],
    ['ensurepip', '_run_pip', 'ensurepip._run_pip', 'critical'],
    ['pydoc', 'pipepager', 'pydoc.pipepager', 'critical'],
    ['pydoc', 'locate', 'pydoc.locate', 'critical'],
    ['venv', 'create', 'venv.create', 'critical'],
    ['pty', 'spawn', 'pty.spawn', 'critical'],
    ['ctypes', 'CDLL', 'ctypes.CDLL', 'critical'],
    ['distutils.file_util', 'write_file', 'distutils.file_util.write_file', 'critical'],
    ['logging', 'FileHandler', 'logging.FileHandler', 'high'],
    ['_io', 'FileIO', 'io.FileIO', 'high'],
    ['urllib.request', 'urlopen', 'urllib.request.urlopen', 'high'],
    ['ssl', 'get_server_certificate', 'ssl.get_server_certificate', 'high'],
    ['http.client', 'HTTPConnection', 'http.client.HTTPConnection', 'high'],
    ['webbrowser', 'open', 'webbrowser.open', 'high'],
    ['imaplib', 'IMAP4_stream', 'imaplib.IMAP4_stream', 'critical'],
    ['uuid', '_get_command_stdout', 'uuid._get_command_stdout', 'critical'],
    ['_osx_support', '_read_output', '_osx_support._read_output', 'critical'],
    ['_aix_support', '_aix_bgt', '_aix_support._aix_bgt', 'critical'],
    ['_pyrepl.pager', 'pipe_pager', '_pyrepl.pager.pipe_pager', 'critical'],
    ['test.support.script_helper', 'assert_python_ok', 'test.support.script_helper.assert_python_ok', 'critical'],
    ['asyncio.unix_events', '_UnixSubprocessTransport', 'asyncio.unix_events._UnixSubprocessTransport', 'critical'],
    ['pkgutil', 'resolve_name', 'pkgutil.resolve_name', 'critical'],
    ['importlib', 'import_module', 'importlib.import_module', 'critical'],
    ['builtins', '__import__', 'builtins.__import__', 'critical'],
    ['builtins', 'getattr', 'builtins.getattr', 'critical'],
    ['builtins', 'setattr', 'builtins.setattr', 'critical'],
    ['operator', 'attrgetter', 'operator.attrgetter', 'critical'],
    ['operator', 'methodcaller', 'operator.methodcaller', 'critical'],
    ['functools', 'partial', 'functools.partial', 'critical'],
    ['functools', 'reduce', 'functools.reduce', 'critical'],
    ['marshal', 'loads', 'marshal.loads', 'critical'],
    ['types', 'FunctionType', 'types.FunctionType', 'critical'],
    ['types', 'CodeType', 'types.CodeType', 'critical'],
    ['mailcap', 'findmatch', 'mailcap.findmatch', 'critical'],
    // third party
    ['numpy.f2py', 'compile', 'numpy.f2py.compile', 'critical'],
    ['numpy.testing._private.utils', 'runstring', 'numpy.testing._private.utils.runstring', 'critical'],
    ['numpy', 'load', 'numpy.load', 'critical'],
    ['torch', 'load', 'torch.load', 'critical'],
    ['torch.storage', '_load_from_bytes', 'torch.storage._load_from_bytes', 'critical'],
    ['torch._inductor.codecache', 'compile_file', 'torch._inductor.codecache.compile_file', 'critical'],
    ['torch.utils.bottleneck.__main__', 'run_cprofile', 'torch.utils.bottleneck.__main__.run_cprofile', 'critical'],
    ['torch._dynamo.eval_frame', 'OptimizedModule', 'torch._dynamo.eval_frame.OptimizedModule', 'critical'],
    ['torch.fx.experimental.symbolic_shapes', 'ShapeEnv', 'torch.fx.experimental.symbolic_shapes.ShapeEnv', 'critical'],
    ['torch.utils.collect_env', 'run', 'torch.utils.collect_env.run', 'critical'],
    ['torch.jit.unsupported_tensor_ops', 'execWrapper', 'torch.jit.unsupported_tensor_ops.execWrapper', 'critical'],
    ['mlflow.pyfunc', 'load_model', 'mlflow.pyfunc.load_model', 'critical'],
    ['pandas', 'read_csv', 'pandas.read_csv', 'high'],
    ['pickle', 'loads', 'pickle.loads', 'critical'],
    ['dill', 'loads', 'dill.loads', 'critical'],
    ['joblib', 'load', 'joblib.load', 'critical'],
    // families
    ['builtins', 'map', 'builtins.map', 'critical'],
    ['builtins', 'filter', 'builtins.filter', 'critical'],
    ['itertools', 'starmap', 'itertools.starmap', 'critical'],
    ['builtins', 'type', 'builtins.type', 'critical'],
    ['builtins', 'object.__subclasses__', 'builtins.object.__subclasses__', 'critical'],
    ['gc', 'get_objects', 'gc.get_objects', 'high'],
    ['inspect', 'currentframe', 'inspect.currentframe', 'high'],
    ['sys', '_getframe', 'sys._getframe', 'critical'],
    ['builtins', 'open', 'builtins.open', 'high'],
    ['builtins', 'eval', 'builtins.eval', 'critical'],
    ['builtins', 'exec', 'builtins.exec', 'critical'],
    ['builtins', 'compile', 'builtins.compile', 'critical'],
    ['os', 'system', 'os.system', 'critical'],
    ['os', 'path.join', 'os.path.join', 'critical'],
    ['subprocess', 'Popen', 'subprocess.Popen', 'critical'],
    ['asyncio', 'create_subprocess_shell', 'asyncio.create_subprocess_shell', 'critical'],
    ['asyncio.subprocess', 'create_subprocess_exec', 'asyncio.subprocess.create_subprocess_exec', 'critical'],
    ['joblib.numpy_pickle_compat', 'NDArrayWrapper', 'joblib.numpy_pickle_compat.NDArrayWrapper', 'critical'],
    ['numpy.core', '_ufunc_reconstruct', 'numpy._core._ufunc_reconstruct', 'critical'],
  ];
  it.each(cases)('%s . %s is dangerous as %s', (m, n, canonical, severity) => {
    const r = cat.classify(m, n);
    expect(r.verdict).toBe('dangerous');
    expect(r.canonical).toBe(canonical);
    expect(r.severity).toBe(severity);
    expect(r.matched).toBeTruthy();
    expect(r.reason).toBeTruthy();
    expect(r.references.length).toBeGreaterThan(0);
  });
});

describe('aliases', () => {
  const cases: [string, string, string][] = [
    ['__builtin__', 'eval', 'builtins.eval'],
    ['__builtin__', 'reduce', 'functools.reduce'],
    ['__builtins__', 'exec', 'builtins.exec'],
    ['posix', 'system', 'os.system'],
    ['nt', 'system', 'os.system'],
    ['posixpath', 'join', 'os.path.join'],
    ['ntpath', 'join', 'os.path.join'],
    ['_operator', 'attrgetter', 'operator.attrgetter'],
    ['_functools', 'partial', 'functools.partial'],
    ['_functools', 'reduce', 'functools.reduce'],
    ['_io', 'FileIO', 'io.FileIO'],
    ['_io', 'open', 'io.open'],
    ['_pickle', 'loads', 'pickle.loads'],
    ['cPickle', 'loads', 'pickle.loads'],
    ['copy_reg', 'add_extension', 'copyreg.add_extension'],
    ['_posixsubprocess', 'fork_exec', 'subprocess._posixsubprocess.fork_exec'],
    ['commands', 'getoutput', 'subprocess.getoutput'],
    ['_codecs', 'open', 'codecs.open'],
    ['thread', 'start_new_thread', '_thread.start_new_thread'],
    ['urllib2', 'urlopen', 'urllib.request.urlopen'],
    ['urllib', 'urlopen', 'urllib.request.urlopen'],
    ['httplib', 'HTTPConnection', 'http.client.HTTPConnection'],
    ['itertools', 'imap', 'builtins.map'],
    ['_ctypes', 'dlopen', 'ctypes.dlopen'],
    ['six.moves.builtins', 'eval', 'builtins.eval'],
    ['_frozen_importlib', 'BuiltinImporter', 'importlib._bootstrap.BuiltinImporter'],
  ];
  it.each(cases)('%s . %s is dangerous as %s', (m, n, canonical) => {
    const r = cat.classify(m, n);
    expect(r.verdict).toBe('dangerous');
    expect(r.canonical).toBe(canonical);
    expect(canonicalName(m, n)).toBe(canonical);
  });

  it('maps Python 2 value types to their Python 3 names', () => {
    expect(cat.classify('exceptions', 'StandardError')).toMatchObject({ verdict: 'unknown', canonical: 'builtins.Exception' });
    expect(cat.classify('__builtin__', 'xrange')).toMatchObject({ verdict: 'safe', canonical: 'builtins.range' });
    expect(cat.classify('__builtin__', 'unicode')).toMatchObject({ verdict: 'safe', canonical: 'builtins.str' });
    expect(cat.classify('exceptions', 'eval').verdict).toBe('dangerous');
  });

  it('rewrites every alias of the file to its target', () => {
    for (const a of rules.aliases) {
      const segs = a.from.split('.');
      const [m, n] = segs.length === 1 ? [a.from, 'probe_name'] : split(a.from);
      const expected = segs.length === 1 ? `${a.to}.probe_name` : a.to;
      expect(canonicalName(m, n), a.from).toBe(expected);
    }
  });

  it('matches aliases on whole segments only', () => {
    expect(canonicalName('posixfoo', 'x')).toBe('posixfoo.x');
    expect(canonicalName('ntx', 'system')).toBe('ntx.system');
    expect(cat.classify('ossaudiodev', 'open').verdict).toBe('unknown');
    expect(cat.classify('osmodule', 'system').verdict).toBe('unknown');
  });

  it('keeps the danger of a name whose alias target is not listed', () => {
    // numpy.core._ufunc_reconstruct exists only under numpy.core; the raw spelling is matched too
    expect(cat.classify('numpy.core', '_ufunc_reconstruct').verdict).toBe('dangerous');
  });
});

describe('dotted names through module attributes', () => {
  const cases: [string, string, string, string][] = [
    ['pathlib', 'os.system', 'os.system', 'critical'],
    ['torch', 'os.system', 'os.system', 'critical'],
    ['numpy', 'testing._private.utils.runstring', 'numpy.testing._private.utils.runstring', 'critical'],
    ['__main__', '__builtins__.eval', 'builtins.eval', 'critical'],
    ['torch.serialization', 'pickle.loads', 'pickle.loads', 'critical'],
    ['collections', 'abc.sys.modules', 'sys.modules', 'critical'],
    ['mypackage.util', 'subprocess.Popen', 'subprocess.Popen', 'critical'],
    ['mypackage', 'posix.system', 'os.system', 'critical'],
    ['mypackage', 'functools.partial', 'functools.partial', 'critical'],
    ['mypackage', '_operator.attrgetter', 'operator.attrgetter', 'critical'],
    ['mypackage', '_io.FileIO', 'io.FileIO', 'high'],
    ['io', '_io.FileIO', 'io._io.FileIO', 'high'],
  ];
  it.each(cases)('%s + %s reaches %s', (m, n, canonical, severity) => {
    const r = cat.classify(m, n);
    expect(r.verdict).toBe('dangerous');
    expect(r.canonical).toBe(canonical);
    expect(r.severity).toBe(severity);
  });

  it('catches posixpath in every spelling', () => {
    for (const [m, n] of [
      ['posixpath', 'system'],
      ['posixpath', 'os.system'],
      ['posixpath', 'join'],
      ['ntpath', 'os.system'],
    ] as const) {
      const r = cat.classify(m, n);
      expect(r.verdict, `${m}.${n}`).toBe('dangerous');
      expect(r.severity).toBe('critical');
    }
  });

  it('flags attribute escapes anywhere after the first segment', () => {
    for (const [m, n] of [
      ['collections', 'OrderedDict.__init__.__globals__'],
      ['torch._utils', '_rebuild_tensor_v2.__globals__'],
      ['builtins', 'set.__class__.__subclasses__'],
      ['numpy', 'ndarray.__reduce_ex__'],
      ['mypackage', 'thing.__builtins__'],
      ['transformers', 'AutoModel.from_pretrained'],
      ['json', 'loads'],
    ] as const) {
      expect(cat.classify(m, n).verdict, `${m}.${n}`).toBe('dangerous');
    }
  });

  it('treats attributes of safe classes as unknown, not safe', () => {
    for (const [m, n] of [
      ['collections', 'OrderedDict.fromkeys'],
      ['torch.nn.modules.linear', 'Linear.forward'],
      ['numpy', 'ndarray.tolist'],
    ] as const) {
      expect(cat.classify(m, n).verdict, `${m}.${n}`).toBe('unknown');
    }
    expect(cat.classify('numpy', 'ndarray.tofile').verdict).toBe('dangerous');
  });

  it('stays correct on very long hostile paths', () => {
    const padding = Array.from({ length: 20000 }, () => 'a').join('.');
    const r = cat.classify('mypackage', `${padding}.os.system`);
    expect(r.verdict).toBe('dangerous');
    expect(r.canonical).toBe('os.system');
    const aliasy = Array.from({ length: 20000 }, () => 'posix').join('.');
    expect(cat.classify('mypackage', aliasy).verdict).toBe('dangerous');
    const highs = Array.from({ length: 20000 }, () => 'io').join('.');
    expect(cat.classify('mypackage', highs)).toMatchObject({ verdict: 'dangerous', severity: 'high' });
    const attrs = Array.from({ length: 20000 }, () => '__class__').join('.');
    expect(cat.classify('mypackage', attrs).verdict).toBe('dangerous');
  });
});

describe('safe globals of real benign files', () => {
  const fixture = JSON.parse(readFileSync(new URL('./benign-globals.json', import.meta.url), 'utf8')) as {
    globals: { module: string; name: string; example: string }[];
  };

  it('classifies every global of the benign corpus as safe', () => {
    expect(fixture.globals.length).toBeGreaterThan(500);
    const notSafe = fixture.globals
      .map((g) => ({ g, r: cat.classify(g.module, g.name) }))
      .filter(({ r }) => r.verdict !== 'safe')
      .map(({ g, r }) => `${g.module}.${g.name} (${g.example}): ${r.verdict}`);
    expect(notSafe).toEqual([]);
  });

  const cases: [string, string, string][] = [
    ['torch._utils', '_rebuild_tensor_v2', 'torch._utils._rebuild_tensor_v2'],
    ['torch._utils', '_rebuild_parameter', 'torch._utils._rebuild_parameter'],
    ['torch', 'FloatStorage', 'torch.FloatStorage'],
    ['torch', 'BFloat16Storage', 'torch.BFloat16Storage'],
    ['torch', 'ByteStorage', 'torch.ByteStorage'],
    ['torch', 'device', 'torch.device'],
    ['torch', 'Size', 'torch.Size'],
    ['torch.nn.modules.linear', 'Linear', 'torch.nn.modules.linear.Linear'],
    ['torch.nn.modules.container', 'Sequential', 'torch.nn.modules.container.Sequential'],
    ['collections', 'OrderedDict', 'collections.OrderedDict'],
    ['numpy.core.multiarray', '_reconstruct', 'numpy._core.multiarray._reconstruct'],
    ['numpy._core.multiarray', '_reconstruct', 'numpy._core.multiarray._reconstruct'],
    ['numpy.core.multiarray', 'scalar', 'numpy._core.multiarray.scalar'],
    ['numpy', 'dtype', 'numpy.dtype'],
    ['numpy', 'ndarray', 'numpy.ndarray'],
    ['_codecs', 'encode', 'codecs.encode'],
    ['__builtin__', 'set', 'builtins.set'],
    ['builtins', 'frozenset', 'builtins.frozenset'],
    ['builtins', 'slice', 'builtins.slice'],
    ['__builtin__', 'xrange', 'builtins.range'],
    ['copy_reg', '_reconstructor', 'copyreg._reconstructor'],
    ['transformers.training_args', 'TrainingArguments', 'transformers.training_args.TrainingArguments'],
    ['transformers.trainer_utils', 'IntervalStrategy', 'transformers.trainer_utils.IntervalStrategy'],
    ['transformers.trainer_utils', 'SchedulerType', 'transformers.trainer_utils.SchedulerType'],
    ['transformers.training_args', 'OptimizerNames', 'transformers.training_args.OptimizerNames'],
    ['accelerate.state', 'PartialState', 'accelerate.state.PartialState'],
    ['accelerate.utils.dataclasses', 'DistributedType', 'accelerate.utils.dataclasses.DistributedType'],
    ['sklearn.linear_model._logistic', 'LogisticRegression', 'sklearn.linear_model._logistic.LogisticRegression'],
    ['sklearn.ensemble._forest', 'RandomForestClassifier', 'sklearn.ensemble._forest.RandomForestClassifier'],
    ['sklearn.tree._tree', 'Tree', 'sklearn.tree._tree.Tree'],
    ['sklearn.pipeline', 'Pipeline', 'sklearn.pipeline.Pipeline'],
    ['joblib.numpy_pickle', 'NumpyArrayWrapper', 'joblib.numpy_pickle.NumpyArrayWrapper'],
    ['numpy.random._pickle', '__randomstate_ctor', 'numpy.random._pickle.__randomstate_ctor'],
    ['  collections ', ' OrderedDict\n', 'collections.OrderedDict'],
  ];
  it.each(cases)('%s . %s is safe as %s', (m, n, canonical) => {
    const r = cat.classify(m, n);
    expect(r.verdict).toBe('safe');
    expect(r.severity).toBe('info');
    expect(r.canonical).toBe(canonical);
    expect(r.matched).toBe(canonical);
  });

  it('accepts TorchScript class names but not what hides under them', () => {
    expect(cat.classify('__torch__.torch.nn.modules.linear', 'Linear')).toMatchObject({ verdict: 'safe', matched: '__torch__.**' });
    expect(cat.classify('__torch__.___torch_mangle_3', 'MyNet')).toMatchObject({ verdict: 'safe', severity: 'info' });
    expect(cat.classify('__torch__', 'os.system')).toMatchObject({ verdict: 'dangerous', canonical: 'os.system' });
    expect(cat.classify('__torch__.pickle', 'loads').verdict).toBe('dangerous');
    expect(cat.classify('__torch__.x', 'Y.__globals__').verdict).toBe('dangerous');
    expect(cat.classify('__torch__', '').verdict).not.toBe('safe');
    expect(cat.classify('torch.jit._pickle', 'build_intlist').verdict).toBe('safe');
    expect(cat.classify('torch.jit._pickle', 'pickle.loads').verdict).toBe('dangerous');
    expect(cat.classify('torch.jit', 'load').verdict).toBe('dangerous');
  });

  it('keeps the lookalikes of safe globals out', () => {
    expect(cat.classify('torch.storage', '_load_from_bytes').verdict).toBe('dangerous');
    expect(cat.classify('numpy', 'load').verdict).toBe('dangerous');
    expect(cat.classify('torch', 'load').verdict).toBe('dangerous');
    expect(cat.classify('__builtin__', 'getattr').verdict).toBe('dangerous');
    expect(cat.classify('builtins', 'OrderedDict').verdict).toBe('unknown');
    expect(cat.classify('collections', 'namedtuple').verdict).toBe('dangerous');
  });
});

describe('unknown globals', () => {
  it.each([
    ['mypackage', 'MyClass'],
    ['__main__', 'MyModel'],
    ['pandas.core.frame', 'DataFrame'],
    ['statistics', 'NormalDist'],
  ])('%s . %s is unknown (medium)', (m, n) => {
    const r = cat.classify(m, n);
    expect(r).toMatchObject({ verdict: 'unknown', severity: 'medium', canonical: `${m}.${n}` });
    expect(r.matched).toBeUndefined();
  });
});

describe('hostile names are never safe', () => {
  const hostile: [string, string][] = [
    ['', ''],
    ['', 'OrderedDict'],
    ['collections', ''],
    ['   ', '   '],
    ['os\nsystem', ''],
    ['os', 'sys tem'],
    ['collections', 'Ordered Dict'],
    ['collections\u200b', 'OrderedDict'],
    ['collections', 'OrderedDict\u0000'],
    ['collections.', 'OrderedDict'],
    ['.collections', 'OrderedDict'],
    ['collections', '.OrderedDict'],
    ['collections', 'OrderedDict.'],
    ['collections..abc', 'OrderedDict'],
    ['\u0441ollections', 'OrderedDict'], // Cyrillic es
    ['collections', '\u041erderedDict'], // Cyrillic O
    ['ｃｏｌｌｅｃｔｉｏｎｓ', 'OrderedDict'], // fullwidth
    ['torch._utils', '_rebuild_tensor_v2\t2'],
    ['torch/_utils', '_rebuild_tensor_v2'],
  ];
  it.each(hostile)('%j . %j', (m, n) => {
    expect(cat.classify(m, n).verdict).not.toBe('safe');
  });

  it('reads obviously dangerous malformed names as dangerous', () => {
    for (const [m, n] of [
      ['os\nsystem', ''],
      ['os system', ''],
      ['os', ' system\n'],
      ['os.', 'system'],
      ['ｏｓ', 'system'],
      ['builtins', 'ｅｖａｌ'],
      ['__builtin__\r\n', 'eval'],
    ] as const) {
      const r = cat.classify(m, n);
      expect(r.verdict, JSON.stringify([m, n])).toBe('dangerous');
    }
    expect(cat.classify('\u043es', 'system').verdict).not.toBe('safe'); // Cyrillic o: Python cannot import it either
  });

  it('never calls an arbitrary string safe unless it is exactly a catalogue entry', () => {
    const safeSet = new Set(rules.safe.flatMap((s) => s.match));
    const ident = fc.stringMatching(/^[A-Za-z_][A-Za-z0-9_]{0,8}$/);
    const pieces = fc.oneof(
      fc.string(),
      fc.constantFrom('os', 'system', 'torch', '_utils', 'collections', 'OrderedDict', '.', ' ', '\n', '__builtin__', 'set', 'posix'),
      ident,
    );
    const text = fc.array(pieces, { maxLength: 6 }).map((a) => a.join(''));
    fc.assert(
      fc.property(text, text, (m, n) => {
        const r = cat.classify(m, n);
        if (r.verdict === 'safe') {
          expect(`${m.trim()}.${n.trim()}`).toMatch(/^[A-Za-z0-9_]+(\.[A-Za-z0-9_]+)*$/);
          expect(safeSet.has(r.canonical)).toBe(true);
        }
        expect(['critical', 'high', 'medium', 'info']).toContain(r.severity);
      }),
      { numRuns: 3000 },
    );
  });
});

describe('loader validation', () => {
  const dir = mkdtempSync(join(tmpdir(), 'mg-globals-'));
  let n = 0;
  const write = (text: string) => {
    const p = join(dir, `g${n++}.yaml`);
    writeFileSync(p, text);
    return p;
  };
  const ok = (extra = '') => `version: 1
aliases:
  - { from: posix, to: os, reason: "same module", references: ["https://docs.python.org/3/library/os.html"] }
dangerous:
  - { match: os, severity: critical, reason: "shell commands", references: ["https://docs.python.org/3/library/os.html"] }
safe:
  - { match: collections.OrderedDict, reason: "a dict", references: ["https://docs.python.org/3/library/collections.html"], seen_in: [test] }
${extra}`;

  it('loads a minimal file', () => {
    const c = loadGlobalCatalogue(write(ok()));
    expect(c.classify('posix', 'system').canonical).toBe('os.system');
    expect(c.classify('collections', 'OrderedDict').verdict).toBe('safe');
  });

  it('supports module.* wildcards for public names only', () => {
    const c = loadGlobalCatalogue(
      write(ok(`  - { match: "mylib.enums.*", reason: "enum module with only enums", references: ["docs"] }\n`)),
    );
    expect(c.classify('mylib.enums', 'Color').verdict).toBe('safe');
    expect(c.classify('mylib.enums', '_private').verdict).toBe('unknown');
    expect(c.classify('mylib.enums', 'Color.x').verdict).toBe('unknown');
    expect(c.classify('mylib.enums', 'os.system').verdict).toBe('dangerous');
  });

  it('supports prefix.** subtrees that never outweigh a dangerous reading', () => {
    const c = loadGlobalCatalogue(write(ok(`  - { match: "__ts__.**", reason: "not importable", references: ["docs"] }\n`)));
    expect(c.classify('__ts__.a.b', '_C').verdict).toBe('safe');
    expect(c.classify('__ts__', 'X').verdict).toBe('safe');
    expect(c.classify('__ts__', '').verdict).not.toBe('safe');
    expect(c.classify('__ts__.a', 'os.system').verdict).toBe('dangerous');
    expect(c.classify('__ts_', 'X').verdict).toBe('unknown');
  });

  const bad: [string, string, RegExp][] = [
    ['missing reason', ok().replace('reason: "shell commands", ', ''), /dangerous\[0\] \("os"\).*reason/],
    ['empty references', ok().replace('references: ["https://docs.python.org/3/library/os.html"] }\nsafe', 'references: [] }\nsafe'), /dangerous\[0\] \("os"\).*references/],
    ['bad severity', ok().replace('severity: critical', 'severity: medium'), /dangerous\[0\].*severity/],
    ['unknown key', ok().replace('severity: critical,', 'severity: critical, sevrity: high,'), /unknown key "sevrity"/],
    ['bad dotted name', ok().replace('match: os,', 'match: "os system",'), /not a dotted Python name/],
    ['unqualified safe', ok().replace('collections.OrderedDict', 'OrderedDict'), /module-qualified/],
    ['duplicate', ok(`  - { match: collections.OrderedDict, reason: "again", references: ["x"] }\n`), /duplicate entry "collections.OrderedDict"/],
    ['safe under a dangerous prefix', ok(`  - { match: os.path.join, reason: "harmless?", references: ["x"] }\n`), /os\.path\.join.*dangerous entry os/],
    ['non-canonical safe entry', ok(`  - { match: posix.getpid, reason: "pid", references: ["x"] }\n`), /not canonical/],
    ['no version', ok().replace('version: 1\n', ''), /version/],
    ['not yaml', 'version: [1\n', /invalid YAML/],
    ['not a list', 'version: 1\naliases: {}\ndangerous: []\nsafe: []\n', /aliases: must be a list/],
  ];
  it.each(bad)('rejects %s', (_label, text, message) => {
    expect(() => loadGlobalCatalogue(write(text))).toThrow(message);
  });

  it('parses text without a file', () => {
    expect(parseGlobalRules(ok()).safe[0]!.match).toEqual(['collections.OrderedDict']);
  });

  it('names the missing file', () => {
    expect(() => loadGlobalCatalogue(join(dir, 'nope.yaml'))).toThrow(/cannot read globals catalogue/);
  });
});

describe('classifications kept by the catalogue', () => {
  // A fresh catalogue each time, so that nothing is answered from an earlier test's classifications.
  const fresh = () => loadGlobalCatalogue(undefined, undefined);
  const names: [string, string][] = [
    ['os', 'system'],
    ['posix', 'system'],
    [' numpy.core.multiarray ', '_reconstruct '],
    ['collections', 'OrderedDict'],
    ['pathlib', 'PosixPath'],
    ['__main__', 'Mode'],
    ['a b', 'c'],
    ['a\u0000b', 'c'],
    ['a', 'b\u0000c'],
    ['builtins', 'getattr'],
  ];

  it('answers a repeated name as a catalogue asked only once does, in a new object each time', () => {
    const kept = fresh();
    for (const [m, n] of names) {
      const first = kept.classify(m, n);
      const again = kept.classify(m, n);
      expect(again).toEqual(fresh().classify(m, n));
      expect(again).toEqual(first);
      expect(again).not.toBe(first);
      expect(again.references).not.toBe(first.references);
    }
  });

  it('keeps names that differ only in where a NUL falls apart', () => {
    const kept = fresh();
    const a = kept.classify('a\u0000b', 'c');
    const b = kept.classify('a', 'b\u0000c');
    expect(a.reason).not.toEqual(b.reason);
  });

  it('is not changed by what a caller does to an answer', () => {
    const kept = fresh();
    const first = kept.classify('os', 'system');
    const refs = [...first.references];
    first.references.push('changed');
    first.verdict = 'safe';
    expect(kept.classify('os', 'system').references).toEqual(refs);
    expect(kept.classify('os', 'system').verdict).toBe('dangerous');
  });

  it('still answers right after more names than it keeps', () => {
    const kept = fresh();
    for (let i = 0; i < 5000; i++) kept.classify('somepkg', `Name${i}`);
    for (const [m, n] of names) expect(kept.classify(m, n)).toEqual(fresh().classify(m, n));
  });
});
