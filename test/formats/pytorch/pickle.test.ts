import assert from 'node:assert/strict';
import { test } from 'node:test';
import { FormatError, UnsupportedError } from '../../../src/errors.js';
import { unpickle, type UnpicklerHooks } from '../../../src/formats/pytorch/pickle.js';
import { PyDict, PyGlobalRef, PyInstance } from '../../../src/formats/pytorch/py-values.js';
import { decodePyTorch } from '../../../src/formats/pytorch/reader.js';
import { UnsafeGlobalError, torchGlobals } from '../../../src/formats/pytorch/torch-globals.js';
import { dictPickle, expected, floatBytes, legacyFile, op, tensorPickle, zipFile } from './helpers.js';

const source = { file: 'test.pkl', where: (offset: number) => `test.pkl@${offset}` };
const hooks: UnpicklerHooks = {
  findGlobal: torchGlobals(source).findGlobal,
  persistentLoad: () => {
    throw new Error('no persistent ids here');
  },
};
const load = (bytes: number[] | Uint8Array) => unpickle(Uint8Array.from(bytes), 0, source, hooks).value;

/** The JSON form fixtures/make/pytorch_pth.py `tagged` writes for Python values. */
function tagged(value: unknown): unknown {
  if (value === null || typeof value === 'boolean' || typeof value === 'string') return value;
  if (typeof value === 'number') return Number.isFinite(value) ? value : { float: value > 0 ? 'inf' : value < 0 ? '-inf' : 'nan' };
  if (typeof value === 'bigint') return { int: value.toString() };
  if (value instanceof Uint8Array) return { bytes: Buffer.from(value).toString('hex') };
  if (Array.isArray(value)) return { seq: value.map(tagged) };
  if (value instanceof Set) return { set: [...value].map(tagged).sort((a, b) => (JSON.stringify(a) < JSON.stringify(b) ? -1 : 1)) };
  if (value instanceof PyDict) return { dict: [...value].map(([k, v]) => [tagged(k), tagged(v)]) };
  throw new Error(`unexpected ${String(value)}`);
}

test('protocols 0–5: CPython pickles of ints, floats, strings, bytes, tuples, sets and dicts decode as Python does', () => {
  const fixture = expected('pickles') as unknown as { value: unknown; pickles: { protocol: number; hex: string }[] };
  assert.equal(fixture.pickles.length, 6);
  for (const { protocol, hex } of fixture.pickles) {
    const value = load(Buffer.from(hex, 'hex'));
    assert.deepEqual(tagged(value), fixture.value, `protocol ${protocol}`);
    // The memo keeps identity: both items of "shared" are one list.
    const shared = (value as PyDict).get('shared') as unknown[][];
    assert.equal(shared[0], shared[1], `protocol ${protocol}`);
    assert.equal(((value as PyDict).get('od') as PyDict).className, 'collections.OrderedDict');
  }
});

test('Python 2 era opcodes: STRING escapes, BINSTRING, text INT/LONG/FLOAT/UNICODE, LONG1', () => {
  // Each hex string with what CPython 3.11's pickle.loads(data, encoding='utf-8') returned.
  const cases: [string, unknown][] = [
    ['5327615c6e625c7834315c3130315c2771270a2e', "a\nbAA'q"],
    ['55036162632e', 'abc'],
    ['540200000068692e', 'hi'],
    ['284930310a4930300a4c31323334353637383930313233343536373839304c0a462d302e350a466e616e0a565c75303065395c5530303031663630300a742e', [true, false, 12345678901234567890n, -0.5, NaN, 'é😀']],
    ['80028a008a01ff8a020080872e', [0, -1, -32768]],
  ];
  for (const [hex, want] of cases) assert.deepEqual(load(Buffer.from(hex, 'hex')), want, hex);
});

test('malformed pickles end in a FormatError naming the offset', () => {
  const cases: [string, number[], RegExp][] = [
    ['no STOP', [0x80, 0x02, 0x4b, 0x01], /without a STOP/],
    ['unknown opcode', [0x80, 0x02, 0xff], /unknown pickle opcode 0xff/],
    ['stack underflow', [0x80, 0x02, 0x52, 0x2e], /underflow/],
    ['missing memo entry', [0x80, 0x02, 0x68, 0x05, 0x2e], /memo entry 5/],
    ['string past the end', [0x80, 0x02, 0x58, 0xff, 0xff, 0xff, 0x7f, 0x61], /runs past the end/],
    ['huge LONG4', [0x80, 0x02, 0x8b, 0xff, 0xff, 0xff, 0x7f, 0x2e], /integer of/],
    ['protocol 6', [0x80, 0x06, 0x2e], /protocol 6/],
    ['SETITEMS on a list', [0x5d, 0x28, 0x4b, 0x01, 0x4b, 0x02, 0x75, 0x2e], /SETITEM on a tuple\/list/],
    ['REDUCE of an int', [0x4b, 0x01, 0x29, 0x52, 0x2e], /cannot be called/],
    ['extension code', [0x82, 0x01, 0x2e], /extension code 1/],
    ['out-of-band buffer', [0x80, 0x05, 0x97, 0x2e], /out-of-band/],
    ['mark inside a dict', [0x7d, 0x28, 0x4b, 0x01, 0x73, 0x2e], /underflow/],
  ];
  for (const [what, bytes, message] of cases) {
    assert.throws(() => load(bytes), (error: unknown) => {
      assert.ok(error instanceof FormatError, `${what}: ${String(error)}`);
      assert.match(error.message, message, what);
      assert.match(error.message, /test\.pkl@\d+/, what);
      return true;
    });
  }
});

test('dangerous globals are refused by GLOBAL, STACK_GLOBAL, INST and Python 2 names alike', () => {
  const refused: [number[], string][] = [
    [[...op.global('os', 'system'), 0x2e], 'os.system'],
    [[...op.global('posix', 'system'), 0x2e], 'posix.system'],
    [[...op.global('nt', 'system'), 0x2e], 'nt.system'],
    [[...op.global('__builtin__', 'eval'), 0x2e], '__builtin__.eval'],
    [[0x80, 0x04, ...op.stackGlobal('builtins', 'getattr'), 0x2e], 'builtins.getattr'],
    [[0x80, 0x04, ...op.stackGlobal('builtins', 'exec'), 0x2e], 'builtins.exec'],
    [[0x80, 0x04, ...op.stackGlobal('subprocess', 'check_output'), 0x2e], 'subprocess.check_output'],
    [[0x80, 0x04, ...op.stackGlobal('importlib.util', 'find_spec'), 0x2e], 'importlib.util.find_spec'],
    [[0x28, 0x69, ...Buffer.from('os\nsystem\n'), 0x2e], 'os.system'],
    [[...op.global('argparse', 'Namespace.__init__.__globals__'), 0x2e], 'argparse.Namespace.__init__.__globals__'],
  ];
  for (const [bytes, name] of refused) {
    assert.throws(() => load(bytes), (error: unknown) => error instanceof UnsafeGlobalError && error.global === name && error.message.includes(name), name);
  }
});

test('other globals stay inert: calling one only records the call', () => {
  // argparse.Namespace via NEWOBJ + BUILD, as a training script's `args` is pickled.
  const namespace = load([0x80, 0x02, ...op.global('argparse', 'Namespace'), ...op.emptyTuple, ...op.newobj, ...op.emptyDict, ...op.str('lr'), 0x47, 0x3f, 0xb9, 0x99, 0x99, 0x99, 0x99, 0x99, 0x9a, ...op.setitem, ...op.build, 0x2e]);
  assert.ok(namespace instanceof PyInstance);
  assert.equal(namespace.cls.qualifiedName, 'argparse.Namespace');
  assert.equal((namespace.state as PyDict).get('lr'), 0.1);
  // Protocols 0 and 1 pickle it as copy_reg._reconstructor(Namespace, __builtin__.object, None)
  // + BUILD: pickle.dumps({'args': argparse.Namespace(a=1)}, protocol=p) from CPython 3.11.
  for (const hex of [
    '286470300a56617267730a70310a63636f70795f7265670a5f7265636f6e7374727563746f720a70320a286361726770617273650a4e616d6573706163650a70330a635f5f6275696c74696e5f5f0a6f626a6563740a70340a4e7470350a5270360a286470370a56610a70380a49310a7362732e',
    '7d7100580400000061726773710163636f70795f7265670a5f7265636f6e7374727563746f720a7102286361726770617273650a4e616d6573706163650a7103635f5f6275696c74696e5f5f0a6f626a6563740a71044e7471055271067d710758010000006171084b017362732e',
  ]) {
    const args = (load(Buffer.from(hex, 'hex')) as PyDict).get('args');
    assert.ok(args instanceof PyInstance);
    assert.equal(args.cls.qualifiedName, 'argparse.Namespace');
    assert.equal((args.state as PyDict).get('a'), 1);
  }
  const ref = load([...op.global('numpy', 'dtype'), 0x2e]);
  assert.ok(ref instanceof PyGlobalRef);
});

test('deep nesting and long chains run in a loop, without recursion', () => {
  const depth = 200_000;
  const bytes = [0x80, 0x02, ...new Array(depth).fill(0x5d), ...new Array(depth - 1).fill(0x61), 0x2e];
  let value = load(bytes) as unknown[];
  for (let i = 1; i < depth; i++) value = value[0] as unknown[];
  assert.deepEqual(value, []);
  // And as a .pth: a clean error, not a stack overflow.
  const file = legacyFile(bytes, []);
  assert.throws(() => decodePyTorch(file, 'deep.pth'), FormatError);
});

test('a non-allowed global on the path to the weights is refused by name', () => {
  const numpyArray = [...op.global('numpy.core.multiarray', '_reconstruct'), ...op.tupleOf(op.int(0)), ...op.reduce];
  const object = dictPickle([
    ['conv.weight', tensorPickle({ key: '0', numel: 2, size: [2], stride: [1], legacy: true })],
    ['conv.bias', numpyArray],
  ]);
  const file = legacyFile(object, [{ key: '0', count: 2, data: floatBytes([1, 2]) }]);
  assert.throws(() => decodePyTorch(file, 'numpy.pth'), (error: unknown) => error instanceof UnsupportedError && error.message.includes('numpy.core.multiarray._reconstruct') && error.message.includes('conv.bias'));
  // The same object elsewhere in a checkpoint is only noted.
  const checkpoint = dictPickle([
    ['state_dict', dictPickle([['w', tensorPickle({ key: '0', numel: 2, size: [2], stride: [1], legacy: true })]]).slice(2, -1)],
    ['extra', numpyArray],
  ]);
  const model = decodePyTorch(legacyFile(checkpoint, [{ key: '0', count: 2, data: floatBytes([1, 2]) }]), 'ok.pth');
  assert.deepEqual([...model.tensors.keys()], ['w']);
  assert.ok(model.warnings.some((w) => w.includes('extra (numpy.core.multiarray._reconstruct, kept inert)')));
});

test('declared sizes are checked before anything is allocated', () => {
  const one = (tensor: number[], count: number, data: Uint8Array) => legacyFile(dictPickle([['t', tensor]]), [{ key: '0', count, data }]);
  // A view past its storage.
  assert.throws(() => decodePyTorch(one(tensorPickle({ key: '0', numel: 2, offset: 1, size: [2], stride: [1], legacy: true }), 2, floatBytes([1, 2])), 'x.pth'), /reaches element 2/);
  // An expanded view of a billion elements over one float: refused, not allocated.
  assert.throws(() => decodePyTorch(one(tensorPickle({ key: '0', numel: 1, size: [1_000_000_000], stride: [0], legacy: true }), 1, floatBytes([1])), 'x.pth'), /would copy/);
  // A small expanded view is materialized.
  const expanded = decodePyTorch(one(tensorPickle({ key: '0', numel: 1, size: [2, 3], stride: [0, 0], legacy: true }), 1, floatBytes([7])), 'x.pth');
  assert.deepEqual(Array.from(expanded.tensors.get('t')!.data as Float32Array), [7, 7, 7, 7, 7, 7]);
  // A storage count that disagrees with the persistent id, and one past the end of the file.
  assert.throws(() => decodePyTorch(one(tensorPickle({ key: '0', numel: 2, size: [2], stride: [1], legacy: true }), 3, floatBytes([1, 2, 3])), 'x.pth'), /holds 3 elements/);
  assert.throws(() => decodePyTorch(one(tensorPickle({ key: '0', numel: 1 << 30, size: [2], stride: [1], legacy: true }), 1 << 30, floatBytes([1, 2])), 'x.pth'), /runs past the end/);
  // Unsupported dtypes are named.
  const complex = legacyFile(dictPickle([['c', tensorPickle({ key: '0', numel: 1, size: [1], stride: [1], storage: 'ComplexFloatStorage', legacy: true })]]), [{ key: '0', count: 1, data: new Uint8Array(8) }]);
  assert.throws(() => decodePyTorch(complex, 'x.pth'), (error: unknown) => error instanceof UnsupportedError && /complex64/.test(error.message));
});

test('zip archives: folder name, deflate limits, missing records', () => {
  const pickle = Uint8Array.from(dictPickle([['w', tensorPickle({ key: '0', numel: 2, size: [2], stride: [1] })]]));
  const good = zipFile([
    { name: 'any_name/data.pkl', data: pickle },
    { name: 'any_name/data/0', data: floatBytes([3, 4]) },
  ]);
  assert.deepEqual(Array.from(decodePyTorch(good, 'x.pth').tensors.get('w')!.data as Float32Array), [3, 4]);
  const deflated = zipFile([
    { name: 'a/data.pkl', data: pickle, deflate: true },
    { name: 'a/data/0', data: floatBytes([3, 4]), deflate: true },
  ]);
  assert.deepEqual(Array.from(decodePyTorch(deflated, 'x.pth').tensors.get('w')!.data as Float32Array), [3, 4]);
  const bomb = zipFile([
    { name: 'a/data.pkl', data: pickle },
    { name: 'a/data/0', data: new Uint8Array(100), deflate: true, declaredSize: 2 ** 31 },
  ]);
  assert.throws(() => decodePyTorch(bomb, 'x.pth'), /declares 2147483648 bytes/);
  const missing = zipFile([{ name: 'a/data.pkl', data: pickle }]);
  assert.throws(() => decodePyTorch(missing, 'x.pth'), /a\/data\/0 is missing/);
  const short = zipFile([
    { name: 'a/data.pkl', data: pickle },
    { name: 'a/data/0', data: floatBytes([3]) },
  ]);
  assert.throws(() => decodePyTorch(short, 'x.pth'), /holds 4 bytes/);
  const noPickle = zipFile([{ name: 'conv1/W.npy', data: new Uint8Array(4) }]);
  assert.throws(() => decodePyTorch(noPickle, 'x.pth'), /without a <folder>\/data\.pkl/);
  const duplicate = zipFile([
    { name: 'a/data.pkl', data: pickle },
    { name: 'a/data.pkl', data: pickle },
  ]);
  assert.throws(() => decodePyTorch(duplicate, 'x.pth'), /appears twice/);
  const payload = Uint8Array.from([0x80, 0x02, ...op.global('os', 'system'), ...op.str('touch /tmp/x'), 0x85, 0x52, 0x2e]);
  assert.throws(() => decodePyTorch(zipFile([{ name: 'a/data.pkl', data: payload }]), 'x.pth'), (error: unknown) => error instanceof UnsafeGlobalError && /a\/data\.pkl@2/.test(error.message));
});
