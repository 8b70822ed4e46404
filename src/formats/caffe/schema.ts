/**
 * The Caffe message schema (proto/caffe.proto) loaded once with protobufjs, and the TypeScript view
 * of the decoded messages that the rest of formats/caffe reads.
 *
 * Both the binary decoder and the prototxt validator produce protobufjs message instances of these
 * types, so optional fields read their proto2 defaults from the prototype; `isSet` tells a field
 * that was written from one that was not.
 */
import { fileURLToPath } from 'node:url';
import protobuf from 'protobufjs';
import { decodeBlobProto, type DecodedBlob } from './blob.js';

/** int64 fields come back as `Long` objects when the `long` package is present, else as numbers. */
export type Int64 = number | { toNumber(): number; high: number; low: number };

export interface BlobShapeMsg {
  dim: Int64[];
}

export interface NetStateRuleMsg {
  phase: number;
  min_level: number;
  max_level: number;
  stage: string[];
  not_stage: string[];
}

export interface TransformMsg {
  scale: number;
  crop_size: number;
  mean_file: string;
  mean_value: number[];
}

/** The `*_param` sub-messages are read through `layerParam`; their fields vary per type. */
export type ParamMsg = Record<string, unknown>;

/** What LayerParameter and V1LayerParameter share, with `type` a string (new) or an enum number (V1). */
export interface LayerMsg {
  name: string;
  type: string | number;
  bottom: string[];
  top: string[];
  blobs: DecodedBlob[];
  include: NetStateRuleMsg[];
  exclude: NetStateRuleMsg[];
  transform_param?: TransformMsg | null;
  [param: string]: unknown;
}

export interface NetMsg {
  name: string;
  input: string[];
  input_shape: BlobShapeMsg[];
  input_dim: Int64[];
  layer: LayerMsg[];
  layers: LayerMsg[];
}

export interface CaffeSchema {
  root: protobuf.Root;
  net: protobuf.Type;
  blob: protobuf.Type;
  /** V1LayerParameter.LayerType: enum number → name (`CONVOLUTION`). */
  v1LayerTypes: Record<number, string>;
}

let cached: CaffeSchema | undefined;

// dist/src/formats/caffe/schema.js → <package root>/proto/caffe.proto; the same depth holds for the
// uncompiled src/formats/caffe/schema.ts.
const PROTO_PATH = fileURLToPath(new URL('../../../../proto/caffe.proto', import.meta.url));

/** The blob payload fields, re-declared as `bytes` (same numbers, same wire type as packed). */
const PAYLOAD_FIELDS: ReadonlyArray<[string, number]> = [
  ['data', 5],
  ['diff', 6],
  ['double_data', 8],
  ['double_diff', 9],
];

export function caffeSchema(): CaffeSchema {
  if (cached) return cached;
  // keepCase: field names stay as in the .proto (and in prototxt files), e.g. `convolution_param`.
  const root = new protobuf.Root().loadSync(PROTO_PATH, { keepCase: true });
  root.resolveAll();
  const blob = root.lookupType('caffe.BlobProto');
  // protobufjs would decode packed floats into a JS number[] (4+ bytes become a boxed double each,
  // ~40 bytes per weight). As `bytes` the payload is a subarray of the file buffer, and the encoder
  // (used by tests to write hostile files) writes raw payload bytes.
  for (const [name, id] of PAYLOAD_FIELDS) {
    blob.remove(blob.fields[name]);
    blob.add(new protobuf.Field(name, id, 'bytes'));
  }
  blob.setup();
  // The generated decoder trusts the schema's wire types; Caffe files may also hold non-packed
  // floats (wire type 5) or several packed chunks, so BlobProto gets a decoder that checks them.
  // Parent decoders call `types[i].decode`, i.e. this property, for every blob.
  const shape = root.lookupType('caffe.BlobShape');
  (blob as unknown as { decode: unknown }).decode = (reader: protobuf.Reader | Uint8Array, length?: number) =>
    decodeBlobProto(reader instanceof protobuf.Reader ? reader : protobuf.Reader.create(reader), length, shape);
  const v1Enum = root.lookup('caffe.V1LayerParameter.LayerType') as protobuf.Enum;
  cached = { root, net: root.lookupType('caffe.NetParameter'), blob, v1LayerTypes: { ...v1Enum.valuesById } };
  return cached;
}

export function toInt(value: Int64 | undefined | null): number {
  if (value === undefined || value === null) return 0;
  return typeof value === 'number' ? value : value.toNumber();
}

/** Whether an optional field was present in the file (decoded) or the text (fromObject). */
export function isSet(message: object | null | undefined, field: string): boolean {
  return !!message && Object.prototype.hasOwnProperty.call(message, field);
}
