/**
 * The zip format of torch.save (PyTorch ≥ 1.6): `<archive>/data.pkl` is the object pickle, each
 * storage is the record `<archive>/data/<key>`, and `<archive>/byteorder` (PyTorch ≥ 2.1) says
 * whether the storages are little or big endian (absent: little). The archive folder is any
 * name: torch uses the file's stem, or `archive`.
 */
import { FormatError, UnsupportedError } from '../../errors.js';
import { asText, storageCount, storageIdFields, storageTypeOf, type TorchContainer } from './container.js';
import { unpickle, type PickleSource } from './pickle.js';
import { StorageRef } from './torch-tensors.js';
import { torchGlobals } from './torch-globals.js';
import { bufferSource, readZipDirectory, readZipEntrySync, type ZipEntry } from '../zip/index.js';

export function openZipFormat(bytes: Uint8Array, file: string): TorchContainer {
  const archive = openArchive(bytes, file);
  const names = [...archive.entries.keys()];
  const pickles = names.filter((name) => /^[^/]+\/data\.pkl$/.test(name));
  // TorchScript (torch.jit.save) archives hold code/ and constants.pkl beside data.pkl; the
  // 1.0–1.2 ones had model.json instead.
  const scripted = names.some((name) => /^[^/]+\/(code\/|constants\.pkl$|model\.json$)/.test(name));
  if (scripted) {
    throw new UnsupportedError(`${file}: is a TorchScript archive (torch.jit.save); graft reads state dicts saved with torch.save`);
  }
  if (pickles.length === 0) {
    throw new FormatError(file, undefined, `zip archive without a <folder>/data.pkl entry: not saved by torch.save (entries: ${names.slice(0, 5).join(', ')}${names.length > 5 ? ', …' : ''})`);
  }
  if (pickles.length > 1) {
    throw new FormatError(file, undefined, `zip archive with more than one data.pkl (${pickles.slice(0, 5).join(', ')}): not saved by torch.save`);
  }
  const prefix = pickles[0].slice(0, -'data.pkl'.length);
  const littleEndian = readByteOrder(archive, prefix, file);

  const storages = new Map<string, StorageRef>();
  const source: PickleSource = { file, where: (offset) => `${pickles[0]}@${offset}` };
  const globals = torchGlobals(source);
  const pickle = archive.read(pickles[0]);
  const { value: root } = unpickle(pickle, 0, source, {
    findGlobal: globals.findGlobal,
    // ('storage', storage_type, key, location, numel): torch/serialization.py `_load`.
    persistentLoad(pid, at) {
      const where = source.where(at);
      const { typename, fields } = storageIdFields(pid, file, where);
      if (typename !== 'storage' || fields.length !== 4) throw new FormatError(file, where, `unknown persistent id type ${JSON.stringify(typename)}`);
      const type = storageTypeOf(fields[0], file, where);
      const key = asText(fields[1]);
      const location = asText(fields[2]) ?? '';
      const numel = storageCount(fields[3], file, where, 'storage size');
      if (key === undefined) throw new FormatError(file, where, 'storage key is not a string');
      const cacheKey = `${key}\0${type.className}`;
      const known = storages.get(cacheKey);
      if (known) {
        if (known.numel !== numel) throw new FormatError(file, where, `storage ${key} declared with ${known.numel} and ${numel} elements`);
        return known;
      }
      const ref = new StorageRef(key, type.type, numel, 0, location);
      storages.set(cacheKey, ref);
      return ref;
    },
  });

  const records = new Map<string, Uint8Array>();
  return {
    kind: 'zip',
    root,
    littleEndian,
    bytesOf(ref, tensorKey) {
      let record = records.get(ref.key);
      if (!record) {
        const name = `${prefix}data/${ref.key}`;
        if (!archive.entries.has(name)) throw new FormatError(file, tensorKey, `storage record ${name} is missing from the archive`);
        record = archive.read(name);
        records.set(ref.key, record);
      }
      return record;
    },
  };
}

/** The archive's entries by name; reads of stored entries are views of `bytes`. */
interface Archive {
  entries: Map<string, ZipEntry>;
  read(name: string): Uint8Array;
}

function openArchive(bytes: Uint8Array, file: string): Archive {
  const source = bufferSource(bytes);
  const entries = new Map(readZipDirectory(source, file).map((entry) => [entry.name, entry]));
  return {
    entries,
    read(name) {
      const entry = entries.get(name);
      if (!entry) throw new FormatError(file, name, 'no such entry in the zip archive');
      return readZipEntrySync(source, entry, file);
    },
  };
}

function readByteOrder(archive: Archive, prefix: string, file: string): boolean {
  const name = `${prefix}byteorder`;
  if (!archive.entries.has(name)) return true;
  const order = new TextDecoder('latin1').decode(archive.read(name)).trim();
  if (order === 'little') return true;
  if (order === 'big') return false;
  throw new FormatError(file, name, `byteorder is ${JSON.stringify(order.slice(0, 20))}, not little or big`);
}
