/**
 * A parsed prototxt tree checked against the Caffe schema and turned into protobufjs message
 * instances, the same kind of object the binary decoder returns, so one code path builds the net.
 * Every mistake is reported at its line:column.
 */
import { readFile } from 'node:fs/promises';
import protobuf from 'protobufjs';
import { FormatError, UsageError } from '../../errors.js';
import { describeFsError } from '../../util/files.js';
import { parsePrototxt, where, type TextField, type TextMessage, type TextValue } from './prototxt.js';
import { caffeSchema, type NetMsg } from './schema.js';

export async function readPrototxtNet(file: string): Promise<NetMsg> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (error) {
    throw new UsageError(`${file}: ${describeFsError(error)}`);
  }
  return prototxtToNet(text, file);
}

export function prototxtToNet(text: string, file: string): NetMsg {
  const { net } = caffeSchema();
  const plain = textToPlain(parsePrototxt(text, file), net, file);
  return net.fromObject(plain) as unknown as NetMsg;
}

/** The tree as a plain object in protobufjs `fromObject` form, checked field by field. */
export function textToPlain(message: TextMessage, type: protobuf.Type, file: string): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  const firstSeen = new Map<string, TextField>();
  for (const field of message.fields) {
    const spec = type.fields[field.name];
    if (!spec) throw new FormatError(file, where(field), `unknown field '${field.name}' in ${type.name}`);
    spec.resolve();
    const values = field.value.kind === 'list' ? field.value.items : [field.value];
    if (field.value.kind === 'list' && !spec.repeated) {
      throw new FormatError(file, where(field), `field '${field.name}' of ${type.name} takes one value, not a list`);
    }
    const converted = values.map((value) => convertValue(value, spec, file));
    if (spec.repeated) {
      const list = (out[field.name] as unknown[] | undefined) ?? [];
      list.push(...converted);
      out[field.name] = list;
    } else {
      const earlier = firstSeen.get(field.name);
      if (earlier) {
        throw new FormatError(file, where(field), `field '${field.name}' of ${type.name} is not repeated but is already set at ${where(earlier)}`);
      }
      firstSeen.set(field.name, field);
      out[field.name] = converted[0];
    }
  }
  return out;
}

function convertValue(value: TextValue, spec: protobuf.Field, file: string): unknown {
  const fail = (expected: string): never => {
    throw new FormatError(file, where(value), `field '${spec.name}' expects ${expected}, found ${describe(value)}`);
  };
  if (spec.resolvedType instanceof protobuf.Type) {
    if (value.kind !== 'message') fail(`a message ({ ... })`);
    return textToPlain(value as TextMessage, spec.resolvedType, file);
  }
  if (value.kind === 'message' || value.kind === 'list') fail(`a ${spec.resolvedType instanceof protobuf.Enum ? 'value' : spec.type}`);
  if (spec.resolvedType instanceof protobuf.Enum) return enumValue(value, spec.resolvedType, fail);
  switch (spec.type) {
    case 'string':
      if (value.kind !== 'string') fail('a quoted string');
      return (value as { value: string }).value;
    case 'bytes':
      if (value.kind !== 'string') fail('a quoted string');
      return Buffer.from((value as { value: string }).value, 'utf8');
    case 'bool':
      return boolValue(value, fail);
    case 'float':
      // Stored as float32 by Caffe, as a binary file would give it (0.0001 → 0.00009999999747).
      return Math.fround(floatValue(value, fail));
    case 'double':
      return floatValue(value, fail);
    default:
      return integerValue(value, spec.type, fail);
  }
}

function describe(value: TextValue): string {
  switch (value.kind) {
    case 'message':
      return 'a message';
    case 'list':
      return 'a list';
    case 'string':
      return `string ${JSON.stringify(value.value)}`;
    case 'number':
      return value.text;
    case 'identifier':
      return (value.negative ? '-' : '') + value.text;
  }
}

function enumValue(value: TextValue, type: protobuf.Enum, fail: (expected: string) => never): string {
  const names = Object.keys(type.values);
  const expected = `one of ${names.join(', ')}`;
  if (value.kind === 'identifier' && !value.negative && Object.prototype.hasOwnProperty.call(type.values, value.text)) return value.text;
  if (value.kind === 'number' && value.integer && value.value in type.valuesById) return type.valuesById[value.value];
  return fail(expected);
}

function boolValue(value: TextValue, fail: (expected: string) => never): boolean {
  if (value.kind === 'identifier' && !value.negative) {
    if (['true', 'True', 't'].includes(value.text)) return true;
    if (['false', 'False', 'f'].includes(value.text)) return false;
  }
  if (value.kind === 'number' && value.integer && (value.value === 0 || value.value === 1)) return value.value === 1;
  return fail('true or false');
}

function floatValue(value: TextValue, fail: (expected: string) => never): number {
  if (value.kind === 'number') return value.value;
  if (value.kind === 'identifier') {
    const word = value.text.toLowerCase();
    const sign = value.negative ? -1 : 1;
    if (word === 'inf' || word === 'infinity') return sign * Infinity;
    if (word === 'nan') return NaN;
  }
  return fail('a number');
}

const INTEGER_RANGES: Record<string, [number, number]> = {
  int32: [-(2 ** 31), 2 ** 31 - 1],
  sint32: [-(2 ** 31), 2 ** 31 - 1],
  sfixed32: [-(2 ** 31), 2 ** 31 - 1],
  uint32: [0, 2 ** 32 - 1],
  fixed32: [0, 2 ** 32 - 1],
  int64: [Number.MIN_SAFE_INTEGER, Number.MAX_SAFE_INTEGER],
  sint64: [Number.MIN_SAFE_INTEGER, Number.MAX_SAFE_INTEGER],
  sfixed64: [Number.MIN_SAFE_INTEGER, Number.MAX_SAFE_INTEGER],
  uint64: [0, Number.MAX_SAFE_INTEGER],
  fixed64: [0, Number.MAX_SAFE_INTEGER],
};

function integerValue(value: TextValue, type: string, fail: (expected: string) => never): number {
  const [min, max] = INTEGER_RANGES[type] ?? [Number.MIN_SAFE_INTEGER, Number.MAX_SAFE_INTEGER];
  const expected = min === 0 ? `a non-negative integer (${type})` : `an integer (${type})`;
  if (value.kind !== 'number' || !value.integer) return fail(expected);
  if (!Number.isSafeInteger(value.value) || value.value < min || value.value > max) return fail(`${expected} in [${min}, ${max}]`);
  return value.value;
}
