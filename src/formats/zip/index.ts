/**
 * One zip reader for the formats that are zip archives (PyTorch's torch.save, Chainer's .npz):
 * the central directory (zip64 included), then each entry's bytes, stored or deflated. Not
 * jszip, which is async and copies every entry. Every declared offset and size is checked
 * against the archive before anything is read or allocated; every problem is a FormatError
 * naming the file, or an UnsupportedError for what is valid zip but not read here.
 */
export { readZipDirectory, type ZipEntry } from './central-directory.js';
export { readZipEntry, readZipEntrySync, type ReadEntryOptions, type StreamingReadOptions } from './entries.js';
export { firstEntryName, hasZipMagic } from './local-header.js';
export { FileSource, bufferSource, type ZipSource } from './source.js';
