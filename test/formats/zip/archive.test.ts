import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { FormatError, UnsupportedError } from '../../../src/errors.js';
import { FileSource, bufferSource, firstEntryName, readZipDirectory, readZipEntry } from '../../../src/formats/zip/index.js';
import { zipArchive } from '../chainer/npz-writer.js';

const work = mkdtempSync(path.join(tmpdir(), 'graft-zip-'));
test.after(() => rmSync(work, { recursive: true, force: true }));

const text = (s: string) => new Uint8Array(Buffer.from(s));
const ENTRIES = [
  { name: 'a.npy', data: text('stored bytes') },
  { name: 'dir/b.npy', data: text('deflated '.repeat(1000)), deflate: true },
  { name: 'empty.npy', data: new Uint8Array(0), deflate: true },
];

/** Every entry as text; `streamAbove: 0` sends deflated entries through the streaming path. */
async function readAll(bytes: Uint8Array, streamAbove?: number): Promise<Record<string, string>> {
  const source = bufferSource(bytes);
  const out: Record<string, string> = {};
  for (const entry of readZipDirectory(source, 'x.zip')) {
    out[entry.name] = Buffer.from(await readZipEntry(source, entry, 'x.zip', { verifyCrc: true, streamAbove })).toString();
  }
  return out;
}

const EXPECTED = { 'a.npy': 'stored bytes', 'dir/b.npy': 'deflated '.repeat(1000), 'empty.npy': '' };

test('stored and deflated entries read back, in directory order, whole or streamed', async () => {
  const archive = zipArchive(ENTRIES);
  assert.deepEqual(await readAll(archive), EXPECTED);
  assert.deepEqual(await readAll(archive, 0), EXPECTED);
  const entries = readZipDirectory(bufferSource(archive), 'x.zip');
  assert.deepEqual(entries.map((e) => [e.name, e.method]), [['a.npy', 0], ['dir/b.npy', 8], ['empty.npy', 8]]);
  assert.equal(firstEntryName(archive.subarray(0, 64)), 'a.npy');
});

test('zip64 records and extra fields (placeholders in every 32-bit slot) read the same', async () => {
  assert.deepEqual(await readAll(zipArchive(ENTRIES, { zip64: true })), EXPECTED);
});

test('a stored entry is a view of the archive; a deflated one gets its own exactly-sized buffer', async () => {
  const archive = zipArchive(ENTRIES);
  const source = bufferSource(archive);
  const [stored, deflated] = readZipDirectory(source, 'x.zip');
  const view = await readZipEntry(source, stored, 'x.zip');
  assert.equal(view.buffer, archive.buffer);
  for (const streamAbove of [undefined, 0]) {
    const inflated = await readZipEntry(source, deflated, 'x.zip', { streamAbove });
    assert.equal(inflated.byteLength, 9000);
    assert.ok(inflated.buffer.byteLength <= 9001, `inflate buffer of ${inflated.buffer.byteLength} bytes`);
  }
});

test('FileSource reads the same entries from disk, each into its own buffer', async () => {
  const file = path.join(work, 'disk.zip');
  writeFileSync(file, zipArchive(ENTRIES, { zip64: true }));
  const source = new FileSource(file);
  try {
    const entries = readZipDirectory(source, file);
    const data = await readZipEntry(source, entries[0], file, { verifyCrc: true });
    assert.equal(Buffer.from(data).toString(), 'stored bytes');
    assert.equal(Buffer.from(await readZipEntry(source, entries[1], file, { streamAbove: 10 })).toString(), EXPECTED['dir/b.npy']);
  } finally {
    source.close();
  }
});

async function throwsFormat(fn: () => Promise<unknown>, pattern: RegExp) {
  await assert.rejects(fn, (e: unknown) => {
    assert.ok(e instanceof FormatError, `expected a FormatError, got ${e}`);
    assert.match(e.message, pattern);
    assert.ok(!e.message.includes('\n'), 'one line');
    return true;
  });
}

test('corrupt archives are FormatErrors naming the file and the problem, whole or streamed', async () => {
  const archive = zipArchive(ENTRIES);
  await throwsFormat(() => readAll(archive.subarray(0, archive.length - 30)), /x\.zip: not a zip archive/);
  await throwsFormat(() => readAll(text('definitely not a zip file at all, just text')), /not a zip archive/);

  // Central directory offset pointing past the end.
  const badOffset = Buffer.from(archive);
  badOffset.writeUInt32LE(archive.length + 100, archive.length - 6);
  await throwsFormat(() => readAll(badOffset), /central directory .* lies past the end/);

  // Flipped bytes inside the deflated stream.
  const entries = readZipDirectory(bufferSource(archive), 'x.zip');
  const deflatedStart = entries[1].localHeaderOffset + 30 + 'dir/b.npy'.length;
  const badDeflate = Buffer.from(archive);
  for (let i = 0; i < 8; i++) badDeflate[deflatedStart + 2 + i] ^= 0x5a;
  for (const streamAbove of [undefined, 0]) {
    await assert.rejects(readAll(badDeflate, streamAbove), (e: unknown) => e instanceof FormatError && /x\.zip:dir\/b\.npy: (corrupt deflate data|inflates to|CRC-32)/.test(e.message));
  }

  // A stored entry whose bytes changed: only the CRC tells.
  const badStored = Buffer.from(archive);
  badStored[30 + 'a.npy'.length] ^= 0xff;
  await throwsFormat(() => readAll(badStored), /x\.zip:a\.npy: CRC-32 mismatch/);

  // Declared uncompressed size larger or smaller than what inflates.
  const central = Buffer.from(archive);
  const signature = Buffer.from('PK\x01\x02', 'latin1');
  const centralB = central.indexOf(signature, central.indexOf(signature) + 1);
  for (const streamAbove of [undefined, 0]) {
    central.writeUInt32LE(8000, centralB + 24);
    await throwsFormat(() => readAll(central, streamAbove), /dir\/b\.npy: inflates to more than its declared 8000 bytes/);
    central.writeUInt32LE(10000, centralB + 24);
    await throwsFormat(() => readAll(central, streamAbove), /dir\/b\.npy: inflates to 9000 bytes, not its declared 10000/);
  }
  // A deflate stream cut short.
  const cut = Buffer.from(central);
  cut.writeUInt32LE(9000, centralB + 24);
  cut.writeUInt32LE(entries[1].compressedSize - 10, centralB + 20);
  for (const streamAbove of [undefined, 0]) await throwsFormat(() => readAll(cut, streamAbove), /dir\/b\.npy: corrupt deflate data \(unexpected end of file\)/);
  central.writeUInt32LE(4_000_000_000, centralB + 24);
  await throwsFormat(() => readAll(central), /declares 4000000000 bytes from \d+ compressed/);
});

test('encrypted entries and other compression methods are refused as unsupported', async () => {
  const archive = Buffer.from(zipArchive(ENTRIES.slice(0, 1)));
  const centralAt = archive.indexOf(Buffer.from('PK\x01\x02', 'latin1'));
  const bzip2 = Buffer.from(archive);
  bzip2.writeUInt16LE(12, centralAt + 10);
  await assert.rejects(readAll(bzip2), (e: unknown) => e instanceof UnsupportedError && /a\.npy: zip compression method 12/.test(e.message));
  const encrypted = Buffer.from(archive);
  encrypted.writeUInt16LE(0x801, centralAt + 8);
  await assert.rejects(readAll(encrypted), (e: unknown) => e instanceof UnsupportedError && /encrypted/.test(e.message));
});
