/**
 * A safe unpickler: the opcodes of pickle protocols 0–5 (CPython's Lib/pickle.py `_Unpickler`,
 * whose names and semantics are kept), run over bytes with every length checked against the input
 * before anything is allocated. Globals go through `hooks.findGlobal`, which returns an
 * allow-listed implementation of ours, an inert `PyGlobalRef`, or refuses: no Python code and no
 * function named by the file is ever run. The machine is a loop, not a recursion, and every opcode
 * consumes at least one byte, so a pickle of n bytes ends after at most n steps with at most n
 * stack and memo entries.
 */
import { FormatError } from '../../errors.js';
import { PyDict, PyGlobalRef, PyInstance, isPyCallable, pyTypeName } from './py-values.js';

export interface PickleSource {
  /** The file named in errors. */
  file: string;
  /** How a byte offset of the pickle is named in errors: `data.pkl@120`, or the file offset. */
  where(offset: number): string | number;
}

export interface UnpicklerHooks {
  /** Python's `find_class`: an allow-listed value, an inert PyGlobalRef, or a thrown refusal. */
  findGlobal(module: string, name: string, at: number): unknown;
  /** Python's `persistent_load`, for PERSID / BINPERSID: torch's storages. */
  persistentLoad(pid: unknown, at: number): unknown;
}

/** Objects BUILD may hand a state to, besides dicts and inert instances. */
export interface PyStateful {
  setState(state: unknown, at: number): void;
}

// Numbers longer than this are refused: CPython would take them, but no checkpoint needs a
// 4 KB integer and BigInt parsing of huge digit strings is quadratic.
const MAX_INT_BYTES = 4096;
const MAX_PROTOCOL = 5;

const utf8 = new TextDecoder('utf-8');
const SIMPLE_ESCAPES = new Map([['n', 10], ['r', 13], ['t', 9], ['\\', 92], ["'", 39], ['"', 34], ['a', 7], ['b', 8], ['f', 12], ['v', 11]]);
const latin1 = new TextDecoder('latin1');

/** Unpickles one pickle starting at `start`; returns the value and the offset after STOP. */
export function unpickle(
  bytes: Uint8Array,
  start: number,
  source: PickleSource,
  hooks: UnpicklerHooks,
): { value: unknown; end: number } {
  return new Unpickler(bytes, start, source, hooks).run();
}

class Unpickler {
  private pos: number;
  private opStart: number;
  private readonly stack: unknown[] = [];
  /** Stack heights at each MARK; items above the last one belong to the mark. */
  private readonly marks: number[] = [];
  private readonly memo = new Map<number, unknown>();
  private readonly view: DataView;

  constructor(
    private readonly bytes: Uint8Array,
    start: number,
    private readonly source: PickleSource,
    private readonly hooks: UnpicklerHooks,
  ) {
    this.pos = start;
    this.opStart = start;
    this.view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  }

  run(): { value: unknown; end: number } {
    const bytes = this.bytes;
    for (;;) {
      this.opStart = this.pos;
      if (this.pos >= bytes.length) throw this.fail('pickle ends without a STOP opcode (truncated file?)');
      const op = bytes[this.pos++];
      if (op === 0x2e /* STOP '.' */) {
        const value = this.pop();
        return { value, end: this.pos };
      }
      this.step(op);
    }
  }

  private step(op: number): void {
    switch (op) {
      // ---- framing and protocol -------------------------------------------------------------
      case 0x80: {
        // PROTO
        const version = this.u8();
        if (version > MAX_PROTOCOL) throw this.fail(`unsupported pickle protocol ${version}`);
        return;
      }
      case 0x95: {
        // FRAME: a length hint for buffered readers; the opcodes inside follow as usual.
        const length = this.u64();
        if (this.pos + length > this.bytes.length) throw this.fail(`frame of ${length} bytes runs past the end of the data`);
        return;
      }

      // ---- constants --------------------------------------------------------------------------
      case 0x4e: // NONE 'N'
        return this.push(null);
      case 0x88: // NEWTRUE
        return this.push(true);
      case 0x89: // NEWFALSE
        return this.push(false);
      case 0x49: {
        // INT 'I': protocol 0 writes True/False as I01 / I00.
        const text = this.numberLine();
        if (text === '01') return this.push(true);
        if (text === '00') return this.push(false);
        return this.push(this.parseDecimal(text));
      }
      case 0x4c: // LONG 'L': Python 2 appends an L.
        return this.push(this.parseDecimal(this.numberLine().replace(/L$/, '')));
      case 0x4a: // BININT 'J'
        return this.push(this.view.getInt32(this.take(4), true));
      case 0x4b: // BININT1 'K'
        return this.push(this.u8());
      case 0x4d: // BININT2 'M'
        return this.push(this.view.getUint16(this.take(2), true));
      case 0x8a: // LONG1
        return this.push(this.littleEndianInt(this.u8()));
      case 0x8b: {
        // LONG4
        const n = this.view.getInt32(this.take(4), true);
        if (n < 0) throw this.fail('LONG4 with a negative byte count');
        return this.push(this.littleEndianInt(n));
      }
      case 0x46: {
        // FLOAT 'F': repr() text, including inf and nan.
        const text = this.numberLine();
        const value = /^[+-]?inf$/i.test(text) ? (text.startsWith('-') ? -Infinity : Infinity) : /^[+-]?nan$/i.test(text) ? NaN : Number(text);
        if (Number.isNaN(value) && !/nan$/i.test(text)) throw this.fail(`bad FLOAT ${JSON.stringify(text)}`);
        return this.push(value);
      }
      case 0x47: // BINFLOAT 'G': big-endian, unlike every other binary number in a pickle.
        return this.push(this.view.getFloat64(this.take(8), false));

      // ---- strings and bytes -------------------------------------------------------------------
      case 0x53: // STRING 'S': a Python 2 str repr, decoded as torch.load does (encoding='utf-8').
        return this.push(utf8.decode(this.stringEscapes(this.quoted(this.line()))));
      case 0x54: // BINSTRING 'T'
        return this.push(utf8.decode(this.slice(this.signedLength4())));
      case 0x55: // SHORT_BINSTRING 'U'
        return this.push(utf8.decode(this.slice(this.u8())));
      case 0x56: // UNICODE 'V': raw-unicode-escape text.
        return this.push(rawUnicodeEscape(latin1.decode(this.line())));
      case 0x58: // BINUNICODE 'X'
        return this.push(utf8.decode(this.slice(this.u32())));
      case 0x8c: // SHORT_BINUNICODE
        return this.push(utf8.decode(this.slice(this.u8())));
      case 0x8d: // BINUNICODE8
        return this.push(utf8.decode(this.slice(this.u64())));
      case 0x42: // BINBYTES 'B'
        return this.push(this.slice(this.u32()));
      case 0x43: // SHORT_BINBYTES 'C'
        return this.push(this.slice(this.u8()));
      case 0x8e: // BINBYTES8
      case 0x96: // BYTEARRAY8
        return this.push(this.slice(this.u64()));
      case 0x97: // NEXT_BUFFER
        throw this.fail('out-of-band buffers (pickle protocol 5 NEXT_BUFFER) are not supported');
      case 0x98: // READONLY_BUFFER: only a flag on the top object.
        this.top();
        return;

      // ---- containers -----------------------------------------------------------------------------
      case 0x29: // EMPTY_TUPLE ')'
        return this.push([]);
      case 0x74: // TUPLE 't'
        return this.push(this.popMark());
      case 0x85: // TUPLE1
        return this.push([this.pop()]);
      case 0x86: {
        // TUPLE2
        const b = this.pop();
        return this.push([this.pop(), b]);
      }
      case 0x87: {
        // TUPLE3
        const c = this.pop();
        const b = this.pop();
        return this.push([this.pop(), b, c]);
      }
      case 0x5d: // EMPTY_LIST ']'
        return this.push([]);
      case 0x6c: // LIST 'l'
        return this.push(this.popMark());
      case 0x61: // APPEND 'a'
        return this.append([this.pop()]);
      case 0x65: // APPENDS 'e'
        return this.append(this.popMark());
      case 0x7d: // EMPTY_DICT '}'
        return this.push(new PyDict());
      case 0x64: {
        // DICT 'd'
        const dict = new PyDict();
        this.setItems(dict, this.popMark());
        return this.push(dict);
      }
      case 0x73: {
        // SETITEM 's'
        const value = this.pop();
        const key = this.pop();
        return this.setItems(this.top(), [key, value]);
      }
      case 0x75: {
        // SETITEMS 'u': the dict is the object just below the mark.
        const items = this.popMark();
        return this.setItems(this.top(), items);
      }
      case 0x8f: // EMPTY_SET
        return this.push(new Set());
      case 0x90: {
        // ADDITEMS
        const items = this.popMark();
        const target = this.top();
        if (!(target instanceof Set)) throw this.fail(`ADDITEMS on a ${pyTypeName(target)}`);
        for (const item of items) target.add(item);
        return;
      }
      case 0x91: // FROZENSET
        return this.push(new Set(this.popMark()));

      // ---- stack and memo --------------------------------------------------------------------------
      case 0x28: // MARK '('
        this.marks.push(this.stack.length);
        return;
      case 0x30: // POP '0': as in CPython, with nothing above the mark it drops the mark.
        if (this.stack.length > this.markBase()) this.stack.pop();
        else this.popMark();
        return;
      case 0x31: // POP_MARK '1'
        this.popMark();
        return;
      case 0x32: // DUP '2'
        return this.push(this.top());
      case 0x70: // PUT 'p'
        return this.memoPut(this.memoIndex(this.numberLine()));
      case 0x71: // BINPUT 'q'
        return this.memoPut(this.u8());
      case 0x72: // LONG_BINPUT 'r'
        return this.memoPut(this.u32());
      case 0x94: // MEMOIZE
        return this.memoPut(this.memo.size);
      case 0x67: // GET 'g'
        return this.memoGet(this.memoIndex(this.numberLine()));
      case 0x68: // BINGET 'h'
        return this.memoGet(this.u8());
      case 0x6a: // LONG_BINGET 'j'
        return this.memoGet(this.u32());

      // ---- globals, calls and objects ---------------------------------------------------------------
      case 0x63: {
        // GLOBAL 'c'
        const module = latin1.decode(this.line());
        const name = latin1.decode(this.line());
        return this.push(this.findGlobal(module, name));
      }
      case 0x93: {
        // STACK_GLOBAL
        const name = this.pop();
        const module = this.pop();
        if (typeof module !== 'string' || typeof name !== 'string') throw this.fail('STACK_GLOBAL needs two strings');
        return this.push(this.findGlobal(module, name));
      }
      case 0x52: {
        // REDUCE 'R'
        const args = this.pop();
        const callable = this.pop();
        return this.push(this.call(callable, args, 'REDUCE'));
      }
      case 0x81: {
        // NEWOBJ: cls.__new__(cls, *args); for us the same as a call.
        const args = this.pop();
        const cls = this.pop();
        return this.push(this.call(cls, args, 'NEWOBJ'));
      }
      case 0x92: {
        // NEWOBJ_EX: keyword arguments are kept only by inert instances.
        const kwargs = this.pop();
        const args = this.pop();
        const cls = this.pop();
        if (!(kwargs instanceof PyDict)) throw this.fail('NEWOBJ_EX keyword arguments are not a dict');
        if (kwargs.size > 0 && !(cls instanceof PyGlobalRef)) throw this.fail(`NEWOBJ_EX with keyword arguments for ${describe(cls)}`);
        return this.push(this.call(cls, args, 'NEWOBJ_EX'));
      }
      case 0x69: {
        // INST 'i' (protocol 0): module and name lines, arguments since the mark.
        const module = latin1.decode(this.line());
        const name = latin1.decode(this.line());
        const args = this.popMark();
        return this.push(this.call(this.findGlobal(module, name), args, 'INST'));
      }
      case 0x6f: {
        // OBJ 'o' (protocol 1): class and arguments since the mark.
        const items = this.popMark();
        if (items.length === 0) throw this.fail('OBJ without a class');
        return this.push(this.call(items[0], items.slice(1), 'OBJ'));
      }
      case 0x62: {
        // BUILD 'b'
        const state = this.pop();
        return this.build(this.top(), state);
      }
      case 0x50: // PERSID 'P'
        return this.push(this.hooks.persistentLoad(latin1.decode(this.line()), this.opStart));
      case 0x51: // BINPERSID 'Q'
        return this.push(this.hooks.persistentLoad(this.pop(), this.opStart));
      case 0x82: // EXT1
      case 0x83: // EXT2
      case 0x84: {
        // EXT4: copyreg's extension registry names globals by number; nothing torch writes.
        const code = op === 0x82 ? this.u8() : op === 0x83 ? this.view.getUint16(this.take(2), true) : this.view.getInt32(this.take(4), true);
        throw this.fail(`extension code ${code} (copyreg extension registry) is not supported`);
      }
      default:
        throw this.fail(`unknown pickle opcode 0x${op.toString(16).padStart(2, '0')}`);
    }
  }

  // ---- helpers ---------------------------------------------------------------------------------

  private fail(message: string): FormatError {
    return new FormatError(this.source.file, this.source.where(this.opStart), message);
  }

  private push(value: unknown): void {
    this.stack.push(value);
  }

  private markBase(): number {
    return this.marks.length > 0 ? this.marks[this.marks.length - 1] : 0;
  }

  private pop(): unknown {
    if (this.stack.length <= this.markBase()) throw this.fail('pickle stack underflow');
    return this.stack.pop();
  }

  private top(): unknown {
    if (this.stack.length <= this.markBase()) throw this.fail('pickle stack underflow');
    return this.stack[this.stack.length - 1];
  }

  private popMark(): unknown[] {
    const base = this.marks.pop();
    if (base === undefined) throw this.fail('no MARK on the pickle stack');
    return this.stack.splice(base);
  }

  private take(n: number): number {
    if (this.pos + n > this.bytes.length) throw this.fail('pickle data is truncated');
    const at = this.pos;
    this.pos += n;
    return at;
  }

  private u8(): number {
    return this.bytes[this.take(1)];
  }

  private u32(): number {
    return this.view.getUint32(this.take(4), true);
  }

  private signedLength4(): number {
    const n = this.view.getInt32(this.take(4), true);
    if (n < 0) throw this.fail('negative byte count');
    return n;
  }

  private u64(): number {
    const at = this.take(8);
    const high = this.view.getUint32(at + 4, true);
    // Anything past 2^53 is longer than any file we could hold.
    if (high >= 0x200000) throw this.fail('64-bit length out of range');
    return high * 0x100000000 + this.view.getUint32(at, true);
  }

  /** `n` bytes of the input, as a view (checked before the slice is taken). */
  private slice(n: number): Uint8Array {
    if (n > this.bytes.length - this.pos) throw this.fail(`a length of ${n} bytes runs past the end of the data`);
    const at = this.take(n);
    return this.bytes.subarray(at, at + n);
  }

  /** A protocol 0 argument line, without its newline. */
  private line(): Uint8Array {
    const end = this.bytes.indexOf(0x0a, this.pos);
    if (end < 0) throw this.fail('pickle data is truncated (no end of line)');
    const text = this.bytes.subarray(this.pos, end);
    this.pos = end + 1;
    return text;
  }

  private numberLine(): string {
    const line = this.line();
    if (line.length > MAX_INT_BYTES) throw this.fail(`number of ${line.length} characters`);
    return latin1.decode(line).trim();
  }

  private parseDecimal(text: string): number | bigint {
    if (!/^[+-]?\d+$/.test(text)) throw this.fail(`bad integer ${JSON.stringify(text.slice(0, 40))}`);
    return narrow(BigInt(text));
  }

  private memoIndex(text: string): number {
    if (!/^\d{1,10}$/.test(text)) throw this.fail(`bad memo index ${JSON.stringify(text.slice(0, 40))}`);
    return Number(text);
  }

  /** Two's-complement little-endian integer of n bytes (LONG1, LONG4). */
  private littleEndianInt(n: number): number | bigint {
    if (n > MAX_INT_BYTES) throw this.fail(`integer of ${n} bytes`);
    const at = this.take(n);
    if (n === 0) return 0;
    let value = 0n;
    for (let i = n - 1; i >= 0; i--) value = (value << 8n) | BigInt(this.bytes[at + i]);
    if (this.bytes[at + n - 1] & 0x80) value -= 1n << BigInt(8 * n);
    return narrow(value);
  }

  private quoted(line: Uint8Array): Uint8Array {
    const q = line[0];
    if (line.length < 2 || (q !== 0x27 && q !== 0x22) || line[line.length - 1] !== q) throw this.fail('STRING argument is not quoted');
    return line.subarray(1, line.length - 1);
  }

  /** Python's `codecs.escape_decode`, as CPython applies it to STRING arguments. */
  private stringEscapes(text: Uint8Array): Uint8Array {
    const out: number[] = [];
    for (let i = 0; i < text.length; i++) {
      const c = text[i];
      if (c !== 0x5c || i + 1 >= text.length) {
        out.push(c);
        continue;
      }
      const e = String.fromCharCode(text[++i]);
      const simple = SIMPLE_ESCAPES.get(e);
      if (simple !== undefined) out.push(simple);
      else if (e === '\n') continue;
      else if (e === 'x') {
        const hex = latin1.decode(text.subarray(i + 1, i + 3));
        if (!/^[0-9a-fA-F]{2}$/.test(hex)) throw this.fail('bad \\x escape in STRING');
        out.push(parseInt(hex, 16));
        i += 2;
      } else if (e >= '0' && e <= '7') {
        let value = text[i] - 0x30;
        for (let k = 1; k < 3 && i + 1 < text.length && text[i + 1] >= 0x30 && text[i + 1] <= 0x37; k++) value = value * 8 + (text[++i] - 0x30);
        out.push(value & 0xff);
      } else out.push(0x5c, text[i]);
    }
    return Uint8Array.from(out);
  }

  private memoPut(index: number): void {
    this.memo.set(index, this.top());
  }

  private memoGet(index: number): void {
    if (!this.memo.has(index)) throw this.fail(`memo entry ${index} was never stored`);
    this.push(this.memo.get(index));
  }

  private findGlobal(module: string, name: string): unknown {
    if (!module || !name) throw this.fail('empty global name');
    return this.hooks.findGlobal(module, name, this.opStart);
  }

  private call(callable: unknown, args: unknown, opcode: string): unknown {
    if (!Array.isArray(args)) throw this.fail(`${opcode} arguments are a ${pyTypeName(args)}, not a tuple`);
    if (callable instanceof PyGlobalRef) return new PyInstance(callable, args);
    if (isPyCallable(callable)) return callable.call(args, this.opStart);
    throw this.fail(`${opcode} of ${describe(callable)}, which cannot be called`);
  }

  private append(items: unknown[]): void {
    const target = this.top();
    if (Array.isArray(target)) {
      for (const item of items) target.push(item);
    } else if (target instanceof PyInstance) {
      target.listItems.push(...items);
    } else throw this.fail(`APPEND to a ${pyTypeName(target)}`);
  }

  private setItems(target: unknown, items: unknown[]): void {
    if (items.length % 2 !== 0) throw this.fail('odd number of items for a dict');
    const dict = target instanceof PyDict ? target : target instanceof PyInstance ? target.dictItems : undefined;
    if (!dict) throw this.fail(`SETITEM on a ${pyTypeName(target)}`);
    for (let i = 0; i < items.length; i += 2) dict.set(items[i], items[i + 1]);
  }

  private build(target: unknown, state: unknown): void {
    if (target instanceof PyInstance) {
      target.state = state;
      return;
    }
    if (target instanceof PyDict) {
      // OrderedDict.__reduce__ hands its instance __dict__ (a state dict's `_metadata`) to BUILD,
      // possibly as (dict_state, slot_state).
      const parts = Array.isArray(state) ? state : [state];
      for (const part of parts) {
        if (part === null) continue;
        if (!(part instanceof PyDict)) throw this.fail(`BUILD of a ${target.className} with a ${pyTypeName(part)}`);
        target.attributes ??= new Map();
        for (const [key, value] of part) if (typeof key === 'string') target.attributes.set(key, value);
      }
      return;
    }
    const stateful = target as Partial<PyStateful> | null;
    if (typeof stateful === 'object' && stateful !== null && typeof stateful.setState === 'function') {
      stateful.setState(state, this.opStart);
      return;
    }
    throw this.fail(`BUILD of a ${pyTypeName(target)}`);
  }
}

function narrow(value: bigint): number | bigint {
  return value >= BigInt(Number.MIN_SAFE_INTEGER) && value <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(value) : value;
}

function describe(value: unknown): string {
  return value instanceof PyGlobalRef ? value.qualifiedName : isPyCallable(value) ? value.qualifiedName : `a ${pyTypeName(value)}`;
}

/** Python's raw-unicode-escape decoding: \uXXXX and \UXXXXXXXX escapes, other characters as is. */
function rawUnicodeEscape(text: string): string {
  return text.replace(/\\u([0-9a-fA-F]{4})|\\U([0-9a-fA-F]{8})/g, (match, short: string | undefined, long: string | undefined) => {
    const code = parseInt(short ?? long ?? '', 16);
    return code <= 0x10ffff ? String.fromCodePoint(code) : match;
  });
}
