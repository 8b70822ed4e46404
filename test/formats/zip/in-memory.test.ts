/**
 * The zip module as PyTorch uses it: a whole file in memory, read synchronously, stored entries
 * as views of that file; and what any corrupt archive must end in.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { FormatError, GraftError } from '../../../src/errors.js';
import { bufferSource, firstEntryName, hasZipMagic, readZipDirectory, readZipEntry, readZipEntrySync } from '../../../src/formats/zip/index.js';
import { zipArchive } from '../chainer/npz-writer.js';
import { fixtureBytes, zipFile } from '../pytorch/helpers.js';

const text = (s: string) => new Uint8Array(Buffer.from(s));

function readAllSync(bytes: Uint8Array, verifyCrc = false): Map<string, Uint8Array> {
  const source = bufferSource(bytes);
  return new Map(readZipDirectory(source, 'x.pth').map((entry) => [entry.name, readZipEntrySync(source, entry, 'x.pth', { verifyCrc })]));
}

/** `archive` with its end record's comment set to `comment`. */
function withComment(archive: Uint8Array, comment: Uint8Array): Uint8Array {
  const out = Buffer.concat([archive, comment]);
  out.writeUInt16LE(comment.length, archive.length - 2);
  return out;
}

test("torch.save's stored records are 64-byte-aligned views of the file's own buffer", () => {
  const bytes = fixtureBytes('small_zip.pth');
  const source = bufferSource(bytes);
  const records = readZipDirectory(source, 'small_zip.pth').filter((entry) => /\/data\/\d+$/.test(entry.name));
  assert.ok(records.length > 0);
  for (const entry of records) {
    assert.equal(entry.method, 0);
    const data = readZipEntrySync(source, entry, 'small_zip.pth', { verifyCrc: true });
    assert.equal(data.buffer, bytes.buffer, entry.name);
    assert.equal(data.byteOffset % 64, 0, entry.name);
    assert.equal(data.byteLength, entry.size);
    assert.ok(!Buffer.isBuffer(data), 'a plain Uint8Array, whose slice() copies');
  }
});

test('sync reads: stored and deflated, the CRC checked only when asked', () => {
  const archive = zipFile([
    { name: 'a/data.pkl', data: text('stored') },
    { name: 'a/data/0', data: text('deflated '.repeat(100)), deflate: true },
  ]);
  const entries = readAllSync(archive);
  assert.deepEqual([...entries.keys()], ['a/data.pkl', 'a/data/0']);
  assert.equal(Buffer.from(entries.get('a/data.pkl')!).toString(), 'stored');
  assert.equal(Buffer.from(entries.get('a/data/0')!).toString(), 'deflated '.repeat(100));
  // This writer leaves every CRC at 0, as no check of torch's own files needs them.
  assert.throws(() => readAllSync(archive, true), (e: unknown) => e instanceof FormatError && /x\.pth:a\/data\.pkl: CRC-32 mismatch/.test(e.message));
});

test('duplicate names and impossible declared sizes are refused before anything is allocated', () => {
  const duplicate = zipFile([
    { name: 'a/data.pkl', data: text('one') },
    { name: 'a/data.pkl', data: text('two') },
  ]);
  assert.throws(() => readAllSync(duplicate), (e: unknown) => e instanceof FormatError && /zip entry a\/data\.pkl appears twice/.test(e.message));
  const bomb = zipFile([{ name: 'a/data/0', data: new Uint8Array(100), deflate: true, declaredSize: 2 ** 31 }]);
  assert.throws(() => readAllSync(bomb), (e: unknown) => e instanceof FormatError && /x\.pth:a\/data\/0: declares 2147483648 bytes/.test(e.message));
});

test('UTF-8 names read as UTF-8 with or without the flag; other bytes as Latin-1', () => {
  // zipFile, like miniz, leaves the UTF-8 flag clear; zipArchive, like Python's zipfile, sets it.
  for (const archive of [zipFile([{ name: 'модель/data.pkl', data: text('x') }]), zipArchive([{ name: 'модель/data.pkl', data: text('x') }])]) {
    assert.deepEqual(readZipDirectory(bufferSource(archive), 'x.pth').map((e) => e.name), ['модель/data.pkl']);
    assert.equal(firstEntryName(archive.subarray(0, 64)), 'модель/data.pkl');
  }
  const latin1 = Buffer.from(zipFile([{ name: 'caf\u00e9.npy', data: text('x') }]));
  // Re-encode the name's 'é' (two bytes in UTF-8) as the single Latin-1 byte and a '_'.
  for (const at of [latin1.indexOf('caf'), latin1.lastIndexOf('caf')]) latin1.set([0xe9, 0x5f], at + 3);
  assert.deepEqual(readZipDirectory(bufferSource(latin1), 'x.zip').map((e) => e.name), ['caf\u00e9_.npy']);
});

test('magic: a local header at the start; an empty archive or anything else is not', () => {
  assert.ok(hasZipMagic(zipFile([{ name: 'a', data: text('x') }])));
  assert.ok(!hasZipMagic(zipFile([])));
  assert.ok(!hasZipMagic(text('PK')));
  assert.deepEqual(readZipDirectory(bufferSource(zipFile([])), 'x.zip'), []);
});

test('an archive comment, even one holding an end-record signature, is skipped; zip64 is found behind the longest', () => {
  const entries = [{ name: 'a.npy', data: text('stored bytes') }];
  const fake = Buffer.alloc(40);
  fake.writeUInt32LE(0x06054b50, 4);
  for (const zip64 of [false, true]) {
    const archive = zipArchive(entries, { zip64 });
    for (const comment of [text('a comment'), fake, new Uint8Array(0xffff)]) {
      const read = readAllSync(withComment(archive, comment));
      assert.equal(Buffer.from(read.get('a.npy')!).toString(), 'stored bytes', `zip64 ${zip64}, comment of ${comment.length}`);
    }
  }
  // A comment that does not run to the end of the file is no end record.
  const short = Buffer.from(withComment(zipArchive(entries), text('comment')));
  short.writeUInt16LE(3, short.length - 'comment'.length - 2);
  assert.throws(() => readAllSync(short), (e: unknown) => e instanceof FormatError && /not a zip archive \(no end-of-central-directory record\)/.test(e.message));
});

/** Every entry, synchronously and through the async stream path; only a GraftError may escape. */
async function readEveryWay(bytes: Uint8Array): Promise<void> {
  for (const read of [
    () => readAllSync(bytes, true),
    async () => {
      const source = bufferSource(bytes);
      for (const entry of readZipDirectory(source, 'x.zip')) await readZipEntry(source, entry, 'x.zip', { verifyCrc: true, streamAbove: 0 });
    },
  ]) {
    try {
      await read();
    } catch (error) {
      if (!(error instanceof GraftError)) throw error;
      assert.ok(!error.message.includes('\n'), 'one line');
    }
  }
}

test('every truncation and every flipped byte of an archive ends in a result or a GraftError', async () => {
  const inputs = [
    { name: 'a.npy', data: text('stored bytes') },
    { name: 'dir/b.npy', data: text('deflated '.repeat(20)), deflate: true },
  ];
  for (const zip64 of [false, true]) {
    const archive = zipArchive(inputs, { zip64 });
    for (let length = 0; length < archive.length; length++) await readEveryWay(archive.subarray(0, length));
    for (let at = 0; at < archive.length; at++) {
      for (const mask of [0x01, 0x80, 0xff]) {
        const flipped = Uint8Array.from(archive);
        flipped[at] ^= mask;
        await readEveryWay(flipped);
      }
    }
  }
});
