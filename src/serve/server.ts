/**
 * `graft serve`: a localhost HTTP server (node:http only) for the browser page and one model
 * directory. Routes:
 *
 *   /               the page (dist/web/index.html), and its assets (app.js, style.css, the
 *                   tfjs-backend-wasm binaries), all shipped in the package: nothing comes from
 *                   outside localhost, and the Content-Security-Policy says so to the browser
 *   /model/FILE     files of the model directory (model.json, weight shards, graft.json)
 *   /api/config     what the page needs besides the model: its name, the labels file's class
 *                   names, top-k, and problems seen in the directory
 *
 * It listens on 127.0.0.1 only and answers only requests addressed to localhost (no DNS
 * rebinding). A malformed model directory still starts the server, so the page can say what is
 * wrong with it; the problems are printed too.
 */
import { spawn } from 'node:child_process';
import { createReadStream, promises as fs } from 'node:fs';
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { UsageError } from '../errors.js';
import { parseLabels, type PageConfig } from './shared.js';

/** The built page: dist/web beside dist/src (this file is dist/src/serve/server.js). */
export const PAGE_DIR = fileURLToPath(new URL('../../web/', import.meta.url));

export const DEFAULT_PORT = 8080;

export interface ServeOptions {
  /** Model directory (model.json + shards + graft.json). */
  dir: string;
  /** 0 picks a free port. Default 8080. */
  port?: number;
  /** Text file with one class name per line (converted ImageNet-style models). */
  labels?: string;
  /** How many classes the page lists. Default 5. */
  top?: number;
  /** Page assets; default PAGE_DIR. */
  pageDir?: string;
  /** Told of each request that fails (404...), one line each. */
  log?: (line: string) => void;
}

export interface RunningServer {
  url: string;
  port: number;
  config: PageConfig;
  close(): Promise<void>;
}

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.json': 'application/json; charset=utf-8',
  '.wasm': 'application/wasm',
  '.bin': 'application/octet-stream',
  '.txt': 'text/plain; charset=utf-8',
  '.png': 'image/png',
  '.jpg': 'image/jpeg',
  '.jpeg': 'image/jpeg',
  '.svg': 'image/svg+xml',
  '.ico': 'image/x-icon',
};

/** Everything from localhost only (the browser may compile the wasm backend's binaries). */
const CSP = [
  "default-src 'self'",
  "script-src 'self' 'wasm-unsafe-eval'",
  "connect-src 'self'",
  "img-src 'self' blob: data:",
  "media-src 'self' blob: mediastream:",
  "style-src 'self'",
  "object-src 'none'",
  "base-uri 'none'",
  "form-action 'none'",
  "frame-ancestors 'none'",
].join('; ');

const COMMON_HEADERS: Record<string, string> = {
  'Content-Security-Policy': CSP,
  'Cross-Origin-Resource-Policy': 'same-origin',
  'X-Content-Type-Options': 'nosniff',
  'Referrer-Policy': 'no-referrer',
  // A model directory may be re-converted while the server runs: always revalidate.
  'Cache-Control': 'no-cache',
};

const LOCAL_HOSTS = new Set(['localhost', '127.0.0.1', '[::1]']);

export async function startServer(options: ServeOptions): Promise<RunningServer> {
  const dir = path.resolve(options.dir);
  const stat = await fs.stat(dir).catch(() => undefined);
  if (!stat) throw new UsageError(`${options.dir}: no such model directory`);
  if (!stat.isDirectory()) throw new UsageError(`${options.dir}: not a directory (give the folder that holds model.json)`);
  const pageDir = options.pageDir ?? PAGE_DIR;
  const index = path.join(pageDir, 'index.html');
  const app = path.join(pageDir, 'app.js');
  for (const file of [index, app]) {
    if (!(await isFile(file))) throw new UsageError(`the page is not built (${file} is missing): run npm run build`);
  }
  let labels: string[] | null = null;
  if (options.labels !== undefined) {
    try {
      labels = parseLabels(await fs.readFile(options.labels, 'utf8'));
    } catch (error) {
      throw new UsageError(`${options.labels}: cannot read labels (${(error as Error).message})`);
    }
  }
  const top = options.top ?? 5;
  if (!Number.isInteger(top) || top < 1) throw new UsageError(`--top: expected a positive integer, got ${top}`);
  const config: PageConfig = {
    // graft finetune's best/ and last/ are named with their run: result/best.
    name: ['best', 'last'].includes(path.basename(dir)) ? `${path.basename(path.dirname(dir))}/${path.basename(dir)}` : path.basename(dir),
    dir,
    labels,
    labelsFile: options.labels === undefined ? null : path.resolve(options.labels),
    top,
    problems: await diagnoseModelDirectory(dir),
  };

  const server = http.createServer((request, response) => {
    response.on('finish', () => {
      if (response.statusCode >= 400) options.log?.(`${request.method} ${request.url} ${response.statusCode}`);
    });
    handle(request, response, dir, pageDir, config).catch((error: Error) => {
      if (!response.headersSent) send(response, 500, 'text/plain; charset=utf-8', `graft serve: ${error.message}\n`);
      else response.destroy();
    });
  });
  const port = options.port ?? DEFAULT_PORT;
  await new Promise<void>((resolve, reject) => {
    server.once('error', (error: NodeJS.ErrnoException) => {
      if (error.code === 'EADDRINUSE') reject(new UsageError(`port ${port} is in use: pick another with --port N (--port 0 takes any free one)`));
      else if (error.code === 'EACCES') reject(new UsageError(`port ${port} needs privileges: pick one above 1023 with --port N`));
      else reject(error);
    });
    server.listen(port, '127.0.0.1', () => resolve());
  });
  const actual = (server.address() as AddressInfo).port;
  return {
    url: `http://127.0.0.1:${actual}/`,
    port: actual,
    config,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

async function handle(request: http.IncomingMessage, response: http.ServerResponse, dir: string, pageDir: string, config: PageConfig): Promise<void> {
  const host = (request.headers.host ?? '').replace(/:\d+$/, '').toLowerCase();
  if (!LOCAL_HOSTS.has(host)) {
    send(response, 403, 'text/plain; charset=utf-8', 'graft serve answers only to localhost\n');
    return;
  }
  if (request.method !== 'GET' && request.method !== 'HEAD') {
    response.setHeader('Allow', 'GET, HEAD');
    send(response, 405, 'text/plain; charset=utf-8', 'only GET and HEAD\n');
    return;
  }
  let pathname: string;
  try {
    pathname = decodeURIComponent(new URL(request.url ?? '/', 'http://localhost').pathname);
  } catch {
    send(response, 400, 'text/plain; charset=utf-8', 'malformed URL\n');
    return;
  }
  if (pathname === '/api/config') {
    send(response, 200, TYPES['.json'], JSON.stringify(config), request.method === 'HEAD');
    return;
  }
  if (pathname.startsWith('/model/')) {
    await sendFile(request, response, dir, pathname.slice('/model/'.length), `the model directory ${dir}`);
    return;
  }
  await sendFile(request, response, pageDir, pathname === '/' ? 'index.html' : pathname.slice(1), 'the page');
}

/** Serves root/relative when it is a regular file inside root (no `..`, no dot-files). */
async function sendFile(request: http.IncomingMessage, response: http.ServerResponse, root: string, relative: string, what: string): Promise<void> {
  const parts = relative.split('/');
  const file = path.resolve(root, ...parts);
  const inside = path.relative(root, file);
  if (relative === '' || parts.some((p) => p === '' || p.startsWith('.') || p.includes('\\')) || inside.startsWith('..') || path.isAbsolute(inside)) {
    send(response, 404, 'text/plain; charset=utf-8', `${relative || '/'}: not found\n`);
    return;
  }
  const stat = await fs.stat(file).catch(() => undefined);
  if (!stat?.isFile()) {
    send(response, 404, 'text/plain; charset=utf-8', `${relative}: no such file in ${what}\n`);
    return;
  }
  response.writeHead(200, {
    ...COMMON_HEADERS,
    'Content-Type': TYPES[path.extname(file).toLowerCase()] ?? 'application/octet-stream',
    'Content-Length': stat.size,
  });
  if (request.method === 'HEAD') {
    response.end();
    return;
  }
  await new Promise<void>((resolve, reject) => {
    const stream = createReadStream(file);
    stream.on('error', reject);
    response.on('close', resolve);
    stream.pipe(response);
  });
}

function send(response: http.ServerResponse, status: number, type: string, body: string, headOnly = false): void {
  response.writeHead(status, { ...COMMON_HEADERS, 'Content-Type': type, 'Content-Length': Buffer.byteLength(body) });
  response.end(headOnly ? undefined : body);
}

async function isFile(file: string): Promise<boolean> {
  return (await fs.stat(file).catch(() => undefined))?.isFile() ?? false;
}

/**
 * What would stop the page from loading the model, in words: a missing or unreadable model.json,
 * one that is not a tfjs layers model, weight files it names that are missing or of the wrong size.
 */
export async function diagnoseModelDirectory(dir: string): Promise<string[]> {
  const modelJson = path.join(dir, 'model.json');
  let text: string;
  try {
    text = await fs.readFile(modelJson, 'utf8');
  } catch {
    return [`${dir} has no model.json: give the folder that graft convert or graft finetune wrote`];
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (error) {
    return [`model.json is not valid JSON (${(error as Error).message})`];
  }
  const problems: string[] = [];
  const model = json as { modelTopology?: unknown; format?: string; weightsManifest?: unknown };
  if (typeof json !== 'object' || json === null || Array.isArray(json)) return ['model.json does not hold a JSON object'];
  if (model.format === 'graph-model') problems.push('model.json is a tfjs graph model: graft serve runs layers models');
  else if (typeof model.modelTopology !== 'object' || model.modelTopology === null) problems.push('model.json has no modelTopology: it is not a tfjs layers model');
  if (!Array.isArray(model.weightsManifest)) {
    problems.push('model.json has no weightsManifest: it names no weight files');
    return problems;
  }
  for (const group of model.weightsManifest as { paths?: unknown; weights?: { shape?: number[]; dtype?: string; quantization?: { dtype?: string } }[] }[]) {
    const paths = Array.isArray(group?.paths) ? (group.paths as unknown[]).filter((p): p is string => typeof p === 'string') : [];
    let actual = 0;
    let missing = false;
    for (const p of paths) {
      const stat = await fs.stat(path.join(dir, p)).catch(() => undefined);
      if (!stat?.isFile()) {
        problems.push(`model.json lists the weight file ${p}, which is missing from the model directory`);
        missing = true;
      } else actual += stat.size;
    }
    const expected = expectedBytes(group?.weights);
    if (!missing && expected !== undefined && expected !== actual) {
      problems.push(`the weight files ${paths.join(', ')} hold ${actual} bytes where model.json's weights need ${expected}`);
    }
  }
  return problems;
}

const BYTES: Record<string, number> = { float32: 4, int32: 4, bool: 1, uint8: 1, uint16: 2, float16: 2, complex64: 8 };

function expectedBytes(weights: { shape?: number[]; dtype?: string; quantization?: { dtype?: string } }[] | undefined): number | undefined {
  if (!Array.isArray(weights)) return undefined;
  let total = 0;
  for (const w of weights) {
    const bytes = BYTES[w.quantization?.dtype ?? w.dtype ?? 'float32'];
    if (bytes === undefined || !Array.isArray(w.shape)) return undefined;
    total += w.shape.reduce((a, b) => a * b, 1) * bytes;
  }
  return total;
}

/** Opens `url` in the system's browser, when it has a way to; says so when it has none. */
export function openBrowser(url: string, log: (line: string) => void): void {
  const [command, args] =
    process.platform === 'darwin' ? ['open', [url]] : process.platform === 'win32' ? ['cmd', ['/c', 'start', '""', url]] : ['xdg-open', [url]];
  try {
    const child = spawn(command, args, { stdio: 'ignore', detached: true });
    child.on('error', () => log(`could not start a browser (${command} is not available): open ${url} yourself`));
    child.on('exit', (code) => {
      if (code !== 0) log(`${command} could not open a browser (exit code ${code}): open ${url} yourself`);
    });
    child.unref();
  } catch {
    log(`could not start a browser: open ${url} yourself`);
  }
}
