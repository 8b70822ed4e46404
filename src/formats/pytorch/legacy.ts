/**
 * The legacy format of torch.save (PyTorch < 1.6, and `_use_new_zipfile_serialization=False`),
 * after torch/serialization.py `_legacy_save`: five pickles one after another (the magic number
 * 0x1950a86a20f9469cfc6c, the protocol version 1001, a sys_info dict, the object, the list of
 * storage keys in the order their data follows), then each storage as an 8-byte little-endian
 * element count followed by its raw little-endian bytes.
 */
import { FormatError, UnsupportedError } from '../../errors.js';
import { asText, storageCount, storageIdFields, storageTypeOf, type TorchContainer } from './container.js';
import { unpickle, type PickleSource } from './pickle.js';
import { PyDict } from './py-values.js';
import { StorageRef } from './torch-tensors.js';
import { torchGlobals } from './torch-globals.js';
import type { TorchScalarType } from './torch-types.js';

export const LEGACY_MAGIC = 0x1950a86a20f9469cfc6cn;
const LEGACY_PROTOCOL = 1001;

/** PROTO 2, LONG1 of 10 bytes: how every legacy file starts. */
export const LEGACY_HEAD = [0x80, 0x02, 0x8a, 0x0a, 0x6c, 0xfc, 0x9c, 0x46, 0xf9, 0x20, 0x6a, 0xa8, 0x50, 0x19];

export function isLegacy(head: Uint8Array): boolean {
  return head.length >= LEGACY_HEAD.length && LEGACY_HEAD.every((b, i) => head[i] === b);
}

interface DeclaredStorage {
  type: TorchScalarType;
  numel: number;
}

/**
 * `alignInPlace`: the bytes are the reader's own, so a storage that is not aligned for its type
 * may be moved back by up to 7 bytes over its own (already read) 8-byte count, and then viewed in
 * place instead of copied. The storages follow the pickles at arbitrary offsets.
 */
export function openLegacyFormat(bytes: Uint8Array, file: string, alignInPlace = false): TorchContainer {
  const source: PickleSource = { file, where: (offset) => offset };
  const globals = torchGlobals(source);
  const declared = new Map<string, DeclaredStorage>();
  const views = new Map<string, StorageRef>();
  const noPersistentIds = {
    findGlobal: globals.findGlobal,
    persistentLoad(_pid: unknown, at: number): never {
      throw new FormatError(file, at, 'persistent id outside the object pickle');
    },
  };

  const magic = unpickle(bytes, 0, source, noPersistentIds);
  if (magic.value !== LEGACY_MAGIC) throw new FormatError(file, 0, 'a pickle that does not start with torch.save\'s magic number: not a PyTorch file');
  const protocol = unpickle(bytes, magic.end, source, noPersistentIds);
  if (protocol.value !== LEGACY_PROTOCOL) throw new FormatError(file, magic.end, `legacy protocol version ${String(protocol.value)}, expected ${LEGACY_PROTOCOL}`);
  const sysInfo = unpickle(bytes, protocol.end, source, noPersistentIds);
  if (!(sysInfo.value instanceof PyDict)) throw new FormatError(file, protocol.end, 'sys_info is not a dict');

  const object = unpickle(bytes, sysInfo.end, source, {
    findGlobal: globals.findGlobal,
    persistentLoad(pid, at) {
      const { typename, fields } = storageIdFields(pid, file, at);
      // ('module', class, source_file, source): a whole pickled nn.Module names its classes so;
      // torch compares the source and returns the class, which stays inert here.
      if (typename === 'module') return fields[0];
      if (typename !== 'storage' || fields.length !== 5) throw new FormatError(file, at, `unknown persistent id type ${JSON.stringify(typename)}`);
      // ('storage', storage_type, root_key, location, numel, view_metadata)
      const type = storageTypeOf(fields[0], file, at).type;
      const key = asText(fields[1]);
      if (key === undefined) throw new FormatError(file, at, 'storage key is not a string');
      const location = asText(fields[2]) ?? '';
      const numel = storageCount(fields[3], file, at, 'storage size');
      const root = declared.get(key);
      if (!root) declared.set(key, { type, numel });
      else if (root.numel !== numel || root.type.itemSize !== type.itemSize) {
        throw new FormatError(file, at, `storage ${key} declared twice with different sizes`);
      }
      const viewMetadata = fields[4];
      if (viewMetadata === null) return new StorageRef(key, type, numel, 0, location);
      // (view_key, offset, view_size) in elements: a storage view from torch < 1.0.
      if (!Array.isArray(viewMetadata) || viewMetadata.length !== 3) throw new FormatError(file, at, 'bad storage view metadata');
      const viewKey = asText(viewMetadata[0]) ?? '';
      const offset = storageCount(viewMetadata[1], file, at, 'storage view offset');
      const size = storageCount(viewMetadata[2], file, at, 'storage view size');
      if (offset + size > numel) throw new FormatError(file, at, `storage view ${viewKey} runs past its storage ${key}`);
      const known = views.get(viewKey);
      if (known) return known;
      const view = new StorageRef(key, type, size, offset, location);
      views.set(viewKey, view);
      return view;
    },
  });

  const keyList = unpickle(bytes, object.end, source, noPersistentIds);
  if (!Array.isArray(keyList.value)) throw new FormatError(file, object.end, 'the storage key list is not a list');
  const payloads = new Map<string, { start: number; length: number; itemSize: number; view?: Uint8Array }>();
  let at = keyList.end;
  for (const item of keyList.value) {
    const key = asText(item);
    if (key === undefined) throw new FormatError(file, object.end, 'storage key list holds a non-string');
    const storage = declared.get(key);
    if (!storage) throw new FormatError(file, at, `storage ${key} has data but no tensor uses it`);
    if (payloads.has(key)) throw new FormatError(file, at, `storage ${key} appears twice`);
    if (at + 8 > bytes.length) throw new FormatError(file, at, `storage ${key} is missing (truncated file?)`);
    const count = new DataView(bytes.buffer, bytes.byteOffset + at, 8).getBigInt64(0, true);
    if (count !== BigInt(storage.numel)) throw new FormatError(file, at, `storage ${key} holds ${count} elements, its tensors declared ${storage.numel}`);
    const length = storage.numel * storage.type.itemSize;
    at += 8;
    if (length > bytes.length - at) throw new FormatError(file, at, `storage ${key} (${length} bytes) runs past the end of the file (truncated file?)`);
    payloads.set(key, { start: at, length, itemSize: storage.type.itemSize });
    at += length;
  }
  return {
    kind: 'legacy',
    root: object.value,
    littleEndian: true,
    bytesOf(ref, tensorKey) {
      const payload = payloads.get(ref.key);
      if (!payload) throw new FormatError(file, tensorKey, `storage ${ref.key} has no data in the file`);
      if (!payload.view) {
        let { start } = payload;
        const misalignment = (bytes.byteOffset + start) % payload.itemSize;
        if (alignInPlace && misalignment > 0) {
          bytes.copyWithin(start - misalignment, start, start + payload.length);
          start -= misalignment;
        }
        payload.view = bytes.subarray(start, start + payload.length);
      }
      return payload.view;
    },
  };
}

/** The tar format of the earliest torch.save: a tar archive with `storages`, `tensors` and `pickle`. */
export function isTar(bytes: Uint8Array): boolean {
  return bytes.length >= 262 && new TextDecoder('latin1').decode(bytes.subarray(257, 262)) === 'ustar';
}

export function tarFormatError(file: string): UnsupportedError {
  return new UnsupportedError(`${file}: is a tar archive, the format of the earliest PyTorch releases; load it with torch and save it again with torch.save (graft reads the zip and legacy formats)`);
}
