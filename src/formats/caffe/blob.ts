/**
 * BlobProto: the one message whose payload is large. It is decoded by a small wire walker instead of
 * protobufjs's generated code so that weights stay as byte ranges of the file buffer, so that the
 * wire type of each payload is checked (the generated decoder would read non-packed floats as a
 * length prefix), and so that the payload's header size is known for the in-place alignment below.
 */
import type protobuf from 'protobufjs';

export interface DecodedBlob {
  shape: { dim: Array<number | { toNumber(): number }> } | null;
  /** Legacy 4-D shape; `legacy` says whether any of the four was written. */
  num: number;
  channels: number;
  height: number;
  width: number;
  legacy: boolean;
  /** float32 little-endian payload: a view of the file buffer, or a copy when it came in pieces. */
  data: Uint8Array | null;
  /** Bytes directly before `data` that belong to its own tag and length (free to overwrite). */
  dataHeaderBytes: number;
  /** float64 payload, used only when `data` is absent. */
  doubleData: Uint8Array | null;
  /** File offset of the blob message, for error messages. */
  offset: number;
}

const WIRE_VARINT = 0;
const WIRE_FIXED64 = 1;
const WIRE_DELIMITED = 2;
const WIRE_FIXED32 = 5;

/** Decodes one BlobProto of `length` bytes at the reader's position (protobufjs decode signature). */
export function decodeBlobProto(reader: protobuf.Reader, length: number | undefined, shapeType: protobuf.Type): DecodedBlob {
  const start = reader.pos;
  const end = length === undefined ? reader.len : reader.pos + length;
  if (end > reader.len) throw new RangeError(`blob of ${length} bytes at byte ${start} runs past the end of the data`);
  const outerLen = reader.len;
  // Bound every read, as protobufjs's own decoders do, so a bad length cannot run into the next field.
  reader.len = end;
  const blob: DecodedBlob = {
    shape: null,
    num: 0,
    channels: 0,
    height: 0,
    width: 0,
    legacy: false,
    data: null,
    dataHeaderBytes: 0,
    doubleData: null,
    offset: start,
  };
  const floats = new PayloadParts(4);
  const doubles = new PayloadParts(8);
  try {
    while (reader.pos < end) {
      const tagStart = reader.pos;
      const tag = reader.uint32();
      const field = tag >>> 3;
      const wire = tag & 7;
      switch (field) {
        case 1:
        case 2:
        case 3:
        case 4: {
          expectWire(wire, WIRE_VARINT, field, tagStart);
          const value = reader.int64() as unknown as number | { toNumber(): number };
          const n = typeof value === 'number' ? value : value.toNumber();
          blob.legacy = true;
          if (field === 1) blob.num = n;
          else if (field === 2) blob.channels = n;
          else if (field === 3) blob.height = n;
          else blob.width = n;
          break;
        }
        case 5:
          readPayload(reader, wire, WIRE_FIXED32, floats, tagStart);
          break;
        case 8:
          readPayload(reader, wire, WIRE_FIXED64, doubles, tagStart);
          break;
        case 7:
          expectWire(wire, WIRE_DELIMITED, field, tagStart);
          blob.shape = shapeType.decode(reader, reader.uint32()) as unknown as DecodedBlob['shape'];
          break;
        default:
          // diff (6) and double_diff (9) are training state; unknown fields are skipped as protobuf does.
          reader.skipType(wire);
      }
    }
    if (reader.pos !== end) throw new RangeError(`blob at byte ${start} ends at ${reader.pos}, not ${end}`);
  } finally {
    reader.len = outerLen;
  }
  blob.data = floats.joined();
  blob.dataHeaderBytes = floats.headerBytes;
  blob.doubleData = doubles.joined();
  return blob;
}

function expectWire(wire: number, expected: number, field: number, at: number): void {
  if (wire !== expected) throw new RangeError(`BlobProto field ${field} at byte ${at} has wire type ${wire}, expected ${expected}`);
}

function readPayload(reader: protobuf.Reader, wire: number, scalarWire: number, parts: PayloadParts, tagStart: number): void {
  if (wire === WIRE_DELIMITED) {
    const size = reader.uint32();
    const begin = reader.pos;
    if (begin + size > reader.len) throw new RangeError(`payload of ${size} bytes at byte ${begin} runs past its blob`);
    if (size % parts.elementBytes !== 0) {
      throw new RangeError(`payload of ${size} bytes at byte ${begin} is not a whole number of ${parts.elementBytes}-byte values`);
    }
    parts.add(reader.buf.subarray(begin, begin + size), begin - tagStart);
    reader.pos = begin + size;
  } else if (wire === scalarWire) {
    // Non-packed encoding: one tag per value. Legal protobuf, rare in Caffe files.
    const begin = reader.pos;
    reader.skip(parts.elementBytes);
    parts.add(reader.buf.subarray(begin, begin + parts.elementBytes), begin - tagStart);
  } else {
    throw new RangeError(`blob payload at byte ${tagStart} has wire type ${wire}`);
  }
}

/** Collects the pieces of one payload field: usually one packed run, kept as a view. */
class PayloadParts {
  private parts: Uint8Array[] = [];
  headerBytes = 0;
  constructor(readonly elementBytes: number) {}

  add(bytes: Uint8Array, headerBytes: number): void {
    // An empty packed field carries nothing (encoders may write one for an unset repeated field).
    if (bytes.byteLength === 0) return;
    this.parts.push(bytes);
    this.headerBytes = headerBytes;
  }

  joined(): Uint8Array | null {
    if (this.parts.length === 0) return null;
    if (this.parts.length === 1) return this.parts[0];
    let total = 0;
    for (const part of this.parts) total += part.byteLength;
    const out = new Uint8Array(total);
    let at = 0;
    for (const part of this.parts) {
      out.set(part, at);
      at += part.byteLength;
    }
    // A fresh buffer has no header to overwrite, but it is aligned, so none is needed.
    this.headerBytes = 0;
    return out;
  }
}

/**
 * The blob's values as float32 without copying where possible. An unaligned payload is moved down
 * within the file buffer by (offset mod 4) bytes, over its own already-parsed tag and length bytes;
 * when that header is too short (a 2-byte header before a small payload) the values are copied.
 * Mutates `blob.data` to the moved range, so a second call returns the same view.
 */
export function blobValues(blob: DecodedBlob): Float32Array {
  const data = blob.data;
  if (data) {
    const misalignment = data.byteOffset % 4;
    if (misalignment === 0) return new Float32Array(data.buffer, data.byteOffset, data.byteLength / 4);
    if (blob.dataHeaderBytes >= misalignment) {
      const whole = new Uint8Array(data.buffer);
      const target = data.byteOffset - misalignment;
      whole.copyWithin(target, data.byteOffset, data.byteOffset + data.byteLength);
      blob.data = whole.subarray(target, target + data.byteLength);
      blob.dataHeaderBytes -= misalignment;
      return new Float32Array(data.buffer, target, data.byteLength / 4);
    }
    const copy = new Uint8Array(data.byteLength);
    copy.set(data);
    return new Float32Array(copy.buffer);
  }
  if (blob.doubleData) {
    const bytes = blob.doubleData;
    const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    const out = new Float32Array(bytes.byteLength / 8);
    for (let i = 0; i < out.length; i++) out[i] = view.getFloat64(i * 8, true);
    return out;
  }
  return new Float32Array(0);
}

/** Declared dims: `shape` when present, else the legacy 4-D num/channels/height/width, else none. */
export function blobDims(blob: DecodedBlob): number[] | null {
  if (blob.shape) return blob.shape.dim.map((d) => (typeof d === 'number' ? d : d.toNumber()));
  if (blob.legacy) return [blob.num, blob.channels, blob.height, blob.width];
  return null;
}

/** Number of values the blob carries, from the byte length (no conversion). */
export function blobValueCount(blob: DecodedBlob): number {
  if (blob.data) return blob.data.byteLength / 4;
  if (blob.doubleData) return blob.doubleData.byteLength / 8;
  return 0;
}
