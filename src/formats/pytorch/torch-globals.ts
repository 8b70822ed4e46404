/**
 * Which Python globals a torch.save pickle may name, and what each one means here.
 *
 * - Allow-listed: implemented in this file (collections.OrderedDict, torch._utils._rebuild_*,
 *   the storage classes and dtypes, the few builtins checkpoints hold). They only build data.
 * - Refused on sight: modules and builtins that run commands, evaluate code, import modules or
 *   touch files and sockets (os.system, builtins.eval, subprocess.Popen...). No checkpoint needs
 *   them; a file naming them is an attack on `torch.load` (pytorch issue 87443).
 * - Everything else (argparse.Namespace in a training script's `args`, numpy scalars, a user's
 *   classes): an inert PyGlobalRef. It is never called; state-dict.ts refuses it where the
 *   weights are, and only notes it in the parts of a checkpoint graft does not need.
 */
import { FormatError } from '../../errors.js';
import type { PickleSource } from './pickle.js';
import { PyDict, PyGlobalRef, PyInstance, isPyCallable, pyTypeName, type PyCallable } from './py-values.js';
import { StorageRef, TensorRef, checkDims } from './torch-tensors.js';
import { TorchDType, torchDTypeNamed, torchStorageTypeNamed } from './torch-types.js';

/** A refused global; `global` is its qualified name (`os.system`). */
export class UnsafeGlobalError extends FormatError {
  constructor(
    file: string,
    where: string | number,
    readonly global: string,
  ) {
    super(file, where, `refused to load the global ${global}: it can run code and no checkpoint needs it. graft never runs code from a file, but this file is unsafe to open with torch.load`);
  }
}

// Module paths (and their submodules) refused whatever the name: process, code, import and file
// access, and the gadget builders (operator.attrgetter, types.FunctionType) exploits chain.
const DANGEROUS_MODULES = new Set([
  'os', 'posix', 'nt', 'posixpath', 'ntpath', 'subprocess', 'sys', 'shutil', 'socket', 'importlib', 'imp', 'pickle',
  '_pickle', 'cPickle', 'marshal', 'runpy', 'ctypes', 'code', 'codeop', 'pty', 'webbrowser', 'multiprocessing',
  'commands', 'popen2', 'pdb', 'bdb', 'timeit', 'tempfile', 'io', '_io', 'operator', '_operator', 'types', 'inspect',
  'asyncio', 'threading', '_thread', 'signal', 'urllib', 'http', 'ftplib', 'smtplib', 'telnetlib', 'glob', 'zipimport',
  'pkgutil', 'site', 'sysconfig', 'distutils', 'setuptools', 'pip', 'nose', 'pytest', 'numpy.testing', 'numpy.f2py',
  'numpy.distutils', 'torch.hub', 'torch.serialization', 'torch.jit', 'torch.ops', 'torch._ops', 'torch.utils.cpp_extension',
]);

// Python 2 module names, as pickle's fix_imports maps them, and torch's own renames
// (torch/serialization.py load_module_mapping).
const MODULE_RENAMES: Record<string, string> = {
  __builtin__: 'builtins',
  copy_reg: 'copyreg',
  'torch.tensor': 'torch._tensor',
};

export interface TorchGlobals {
  findGlobal(module: string, name: string, at: number): unknown;
}

export function torchGlobals(source: PickleSource): TorchGlobals {
  const fail = (at: number, message: string) => new FormatError(source.file, source.where(at), message);
  const allowed = allowList(fail);
  return {
    findGlobal(rawModule: string, name: string, at: number): unknown {
      const module = Object.prototype.hasOwnProperty.call(MODULE_RENAMES, rawModule) ? MODULE_RENAMES[rawModule] : rawModule;
      const qualified = `${module}.${name}`;
      const implemented = allowed.get(qualified);
      if (implemented !== undefined) return implemented;
      if ((module === 'torch' || module === 'torch.cuda') && name.endsWith('Storage')) {
        const storage = torchStorageTypeNamed(name);
        if (storage) return storage;
      }
      if (module === 'torch') {
        const dtype = torchDTypeNamed(name);
        if (dtype) return dtype;
      }
      if (isDangerous(module, name)) throw new UnsafeGlobalError(source.file, source.where(at), `${rawModule}.${name}`);
      return new PyGlobalRef(module, name);
    },
  };
}

// Builtins that only name a type: protocol 0/1 objects are pickled as
// copyreg._reconstructor(cls, object, state), and hyper-parameters may hold a slice or a range.
const INERT_BUILTINS = new Set(['object', 'int', 'float', 'complex', 'str', 'bool', 'dict', 'list', 'tuple', 'slice', 'range', 'long', 'unicode']);

function isDangerous(module: string, name: string): boolean {
  // Every other builtin: eval, exec, compile, getattr, open, __import__, ...
  if (module === 'builtins') return !INERT_BUILTINS.has(name);
  const parts = module.split('.');
  for (let i = 1; i <= parts.length; i++) if (DANGEROUS_MODULES.has(parts.slice(0, i).join('.'))) return true;
  // Dunder names reach into interpreter internals (`object.__reduce__`, `__subclasses__`).
  return name.split('.').some((part) => part.startsWith('__'));
}

type Fail = (at: number, message: string) => FormatError;

function callable(qualifiedName: string, call: (args: readonly unknown[], at: number) => unknown): PyCallable {
  return { qualifiedName, call };
}

function allowList(fail: Fail): Map<string, PyCallable> {
  const table = new Map<string, PyCallable>();
  const add = (name: string, call: (args: readonly unknown[], at: number) => unknown) => table.set(name, callable(name, call));
  const arity = (name: string, args: readonly unknown[], min: number, max: number, at: number) => {
    if (args.length < min || args.length > max) throw fail(at, `${name} called with ${args.length} arguments`);
  };

  add('collections.OrderedDict', (args, at) => {
    const dict = new PyDict('collections.OrderedDict');
    if (args.length === 0) return dict;
    // Protocol 0/1 pickles may hand the items as a list of pairs.
    if (args.length !== 1 || !Array.isArray(args[0])) throw fail(at, 'collections.OrderedDict called with unexpected arguments');
    for (const pair of args[0]) {
      if (!Array.isArray(pair) || pair.length !== 2) throw fail(at, 'collections.OrderedDict item is not a pair');
      dict.set(pair[0], pair[1]);
    }
    return dict;
  });
  for (const name of ['builtins.set', 'builtins.frozenset']) {
    add(name, (args, at) => {
      arity(name, args, 0, 1, at);
      if (args.length === 0) return new Set();
      if (!Array.isArray(args[0])) throw fail(at, `${name} of a ${pyTypeName(args[0])}`);
      return new Set(args[0]);
    });
  }
  // Protocol 2 has no bytes opcode: Python 3 pickles bytes as _codecs.encode(latin-1 text).
  add('_codecs.encode', (args, at) => {
    arity('_codecs.encode', args, 1, 2, at);
    const [text, encoding = 'utf-8'] = args;
    if (typeof text !== 'string') throw fail(at, '_codecs.encode of a non-string');
    if (encoding === 'latin1' || encoding === 'latin-1') return latin1Bytes(text, fail, at);
    if (encoding === 'utf-8' || encoding === 'utf8') return new TextEncoder().encode(text);
    throw fail(at, `_codecs.encode with encoding ${JSON.stringify(encoding)}`);
  });
  for (const name of ['builtins.bytes', 'builtins.bytearray']) {
    add(name, (args, at) => {
      arity(name, args, 0, 2, at);
      if (args.length === 0) return new Uint8Array(0);
      const [value, encoding] = args;
      if (value instanceof Uint8Array) return value;
      if (typeof value === 'string' && (encoding === 'latin1' || encoding === 'latin-1')) return latin1Bytes(value, fail, at);
      if (Array.isArray(value) && value.every((b) => typeof b === 'number' && Number.isInteger(b) && b >= 0 && b < 256)) return Uint8Array.from(value as number[]);
      throw fail(at, `${name} of a ${pyTypeName(value)}`);
    });
  }
  // Protocol 0/1 objects: copyreg._reconstructor(cls, object, state) is object.__new__(cls).
  add('copyreg._reconstructor', (args, at) => {
    arity('copyreg._reconstructor', args, 2, 3, at);
    const [cls] = args;
    if (cls instanceof PyGlobalRef) return new PyInstance(cls, []);
    if (isPyCallable(cls)) return cls.call([], at);
    throw fail(at, `copyreg._reconstructor of a ${pyTypeName(cls)}`);
  });

  const rebuildTensor = (name: string, min: number, max: number, dtypeArg?: number) =>
    add(name, (args, at) => {
      arity(name, args, min, max, at);
      const [storage, offset, size, stride] = args;
      if (!(storage instanceof StorageRef)) throw fail(at, `${name}: argument 1 is a ${pyTypeName(storage)}, not a storage`);
      if (typeof offset !== 'number' || !Number.isSafeInteger(offset) || offset < 0) throw fail(at, `${name}: bad storage offset`);
      const dims = checkDims(size);
      const strides = checkDims(stride);
      if (!dims || !strides || dims.length !== strides.length) throw fail(at, `${name}: bad size or stride`);
      let type = storage.type;
      if (dtypeArg !== undefined) {
        const dtype = args[dtypeArg];
        if (!(dtype instanceof TorchDType)) throw fail(at, `${name}: argument ${dtypeArg + 1} is not a dtype`);
        type = dtype.type;
      }
      return new TensorRef(storage, offset, [...dims], [...strides], type);
    });
  rebuildTensor('torch._utils._rebuild_tensor', 4, 4);
  // (storage, storage_offset, size, stride, requires_grad, backward_hooks[, metadata])
  rebuildTensor('torch._utils._rebuild_tensor_v2', 6, 7);
  // (storage, storage_offset, size, stride, requires_grad, backward_hooks, dtype[, metadata])
  rebuildTensor('torch._utils._rebuild_tensor_v3', 7, 8, 6);

  const parameter = (name: string, min: number, max: number) =>
    add(name, (args, at) => {
      arity(name, args, min, max, at);
      if (!(args[0] instanceof TensorRef)) throw fail(at, `${name}: argument 1 is a ${pyTypeName(args[0])}, not a tensor`);
      return args[0];
    });
  // (data, requires_grad, backward_hooks[, state]): a Parameter is its tensor for us.
  parameter('torch._utils._rebuild_parameter', 3, 3);
  parameter('torch._utils._rebuild_parameter_with_state', 4, 4);
  parameter('torch.nn.parameter.Parameter', 1, 2);

  // (func, new_type, args, state): tensor subclasses. Only `func(*args)` matters; `func` itself
  // went through this allow-list when its GLOBAL was read, and new_type is never instantiated.
  for (const name of ['torch._tensor._rebuild_from_type_v2', 'torch._utils._rebuild_from_type']) {
    add(name, (args, at) => {
      arity(name, args, 4, 4, at);
      const [func, , funcArgs] = args;
      if (!Array.isArray(funcArgs)) throw fail(at, `${name}: arguments are not a tuple`);
      if (func instanceof PyGlobalRef) return new PyInstance(func, funcArgs);
      if (!isPyCallable(func)) throw fail(at, `${name}: ${pyTypeName(func)} is not callable`);
      return func.call(funcArgs, at);
    });
  }
  add('torch.Size', (args, at) => {
    arity('torch.Size', args, 0, 1, at);
    const dims = args.length === 0 ? [] : checkDims(args[0]);
    if (!dims) throw fail(at, 'torch.Size of something other than sizes');
    return [...dims];
  });
  add('torch.device', (args, at) => {
    arity('torch.device', args, 1, 2, at);
    if (typeof args[0] !== 'string') throw fail(at, 'torch.device of a non-string');
    return args.length === 2 ? `${args[0]}:${String(args[1])}` : args[0];
  });
  return table;
}

function latin1Bytes(text: string, fail: Fail, at: number): Uint8Array {
  const out = new Uint8Array(text.length);
  for (let i = 0; i < text.length; i++) {
    const code = text.charCodeAt(i);
    if (code > 0xff) throw fail(at, 'latin-1 bytes with a character above U+00FF');
    out[i] = code;
  }
  return out;
}

