/**
 * What the unpickler builds. Python's None, bool, int, float, str, bytes, tuple and list become JS
 * null, boolean, number (bigint past 2^53), number, string, Uint8Array and arrays; dicts keep their
 * insertion order in a Map. Everything that Python would build by calling a class or function is
 * either an allow-listed constructor of ours (see torch-globals.ts) or an inert record of what
 * would have been called: nothing from the file is ever run.
 */

/** `dict` or `collections.OrderedDict`; `attributes` holds what BUILD set (a state dict's `_metadata`). */
export class PyDict extends Map<unknown, unknown> {
  attributes: Map<string, unknown> | undefined;
  constructor(readonly className: 'dict' | 'collections.OrderedDict' = 'dict') {
    super();
  }
}

/** A reference to a global that is not allow-listed. Calling it only records the call. */
export class PyGlobalRef {
  constructor(
    readonly module: string,
    readonly name: string,
  ) {}
  get qualifiedName(): string {
    return `${this.module}.${this.name}`;
  }
}

/**
 * The inert result of calling (REDUCE, NEWOBJ, INST, OBJ) a non-allow-listed global: the call's
 * arguments and whatever BUILD, APPENDS or SETITEMS would have handed it, kept as data.
 */
export class PyInstance {
  state: unknown = undefined;
  readonly listItems: unknown[] = [];
  readonly dictItems = new PyDict();
  constructor(
    readonly cls: PyGlobalRef,
    readonly args: readonly unknown[],
  ) {}
}

/** An allow-listed global that REDUCE / NEWOBJ may call: implemented here, never looked up in Python. */
export interface PyCallable {
  readonly qualifiedName: string;
  /** `at` names the pickle position for errors. */
  call(args: readonly unknown[], at: number): unknown;
}

export function isPyCallable(value: unknown): value is PyCallable {
  return typeof value === 'object' && value !== null && typeof (value as PyCallable).call === 'function';
}

/** Python's own name for a value's type, for error messages and checkpoint notes. */
export function pyTypeName(value: unknown): string {
  if (value === null || value === undefined) return 'None';
  if (typeof value === 'boolean') return 'bool';
  if (typeof value === 'number') return Number.isInteger(value) ? 'int' : 'float';
  if (typeof value === 'bigint') return 'int';
  if (typeof value === 'string') return 'str';
  if (value instanceof Uint8Array) return 'bytes';
  if (Array.isArray(value)) return 'tuple/list';
  if (value instanceof PyDict) return value.className;
  if (value instanceof Set) return 'set';
  if (value instanceof PyInstance) return value.cls.qualifiedName;
  if (value instanceof PyGlobalRef) return value.qualifiedName;
  const named = (value as { pyTypeName?: string }).pyTypeName;
  return typeof named === 'string' ? named : 'object';
}
