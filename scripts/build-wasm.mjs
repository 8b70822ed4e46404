// Compiles graft's wasm SIMD kernels (src/tfjs/kernels/simd/*.wat) into dist next to the
// compiled JS that loads them, with wabt (a devDependency: nothing is built at install time in a
// user's project, where dist ships prebuilt).
import { mkdir, readdir, readFile, writeFile } from 'node:fs/promises';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import initWabt from 'wabt';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const from = path.join(root, 'src', 'tfjs', 'kernels', 'simd');
const to = path.join(root, 'dist', 'src', 'tfjs', 'kernels', 'simd');
const wabt = await initWabt();
await mkdir(to, { recursive: true });
// Each module twice: importing a shared memory (tfjs-backend-wasm's threaded build) and an
// unshared one (its single-threaded build, --threads 1); an import must match the memory's kind.
for (const file of (await readdir(from)).filter((name) => name.endsWith('.wat'))) {
  const text = await readFile(path.join(from, file), 'utf8');
  const variants = { '.wasm': text, '-unshared.wasm': text.replace('(memory 1 65536 shared)', '(memory 1)') };
  for (const [suffix, source] of Object.entries(variants)) {
    const module = wabt.parseWat(file, source, { simd: true, threads: true });
    const { buffer } = module.toBinary({});
    module.destroy();
    // wabt.js's validate() ignores the features given to parseWat (it rejects the shared memory
    // import): validated by the engine that will run it instead.
    if (!WebAssembly.validate(buffer)) throw new Error(`${file}: the compiled module does not validate`);
    await writeFile(path.join(to, file.replace(/\.wat$/, suffix)), buffer);
  }
}
