import { test } from 'vitest';
import { loadGlobalCatalogue } from '../../src/rules/globals.js';
test('x', () => {
const c = loadGlobalCatalogue();
console.log(c.version, c.shadowedSafeEntries());
for (const [m, n] of [['pathlib','os.system'],['posix','system'],['__builtin__','eval'],['torch._utils','_rebuild_tensor_v2'],['_codecs','encode'],['numpy.core.multiarray','_reconstruct'],['mypackage','MyClass'],['os\nsystem',''],['ｏｓ','system'],['numpy','testing._private.utils.runstring'],['__builtin__','reduce'],['builtins','object.__subclasses__'],['numpy.random._pickle','__randomstate_ctor'],['copy_reg','_reconstructor'],['six.moves.builtins','eval'],['__builtin__','set'], ['posixpath','system'], ['torch', 'os.system'], ['numpy.core', '_ufunc_reconstruct']] as const) console.log(m, n, JSON.stringify(c.classify(m, n)).slice(0, 160));
});
