/**
 * `graft convert`: source file → SourceModel → tf.LayersModel (shapes only) → model directory.
 */
import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import { UsageError } from '../errors.js';
import { pickReader } from '../formats/registry.js';
import { buildExactly, recognizeArchitecture, type Recognized } from '../graph/architectures/index.js';
import { readArchitectureSpec } from '../graph/spec.js';
import type { SourceModel } from '../formats/source.js';
import { type ProgressCallback } from '../util/files.js';
import { sha256OfFile } from '../util/hash-worker.js';
import { useBackend } from './backend.js';
import { buildModel } from './builder.js';
import { GRAFT_VERSION, type GraftJson } from './graft-json.js';
import { writeModelDirectory } from './model-dir.js';

export interface ConvertOptions {
  input: string;
  output?: string;
  prototxt?: string;
  inputShape?: number[];
  /** Architecture for weight-only files: a known name (`vgg16`) or a spec file (`net.json`). */
  arch?: string;
  /** Weight dtype written to the shards. */
  dtype?: 'float32' | 'float16';
  force?: boolean;
  onProgress?: ProgressCallback;
}

export interface ConvertSummary {
  output: string;
  format: string;
  name: string;
  /** For weights-only files: the architecture used, and whether it was recognised. */
  architecture?: string;
  input: { name: string; shape: number[] };
  outputs: { name: string; shape: (number | null)[] }[];
  layers: number;
  parameters: number;
  weightBytes: number;
  warnings: string[];
}

/** The directory a conversion writes to when no `-o` is given: `<name>-tfjs` in the current directory. */
export function defaultOutputDir(input: string): string {
  const base = path.basename(input).replace(/\.(caffemodel|pth|pt|tar|npz|bin)$/i, '');
  return `${base}-tfjs`;
}

export async function convertModel(options: ConvertOptions): Promise<ConvertSummary> {
  const output = options.output ?? defaultOutputDir(options.input);
  const reader = await pickReader(options.input);
  // Started first: the hash runs on another core while the file is parsed and written.
  const sha256 = sha256OfFile(options.input);
  sha256.catch(() => undefined);
  const source: SourceModel = await reader.open(options.input, {
    prototxt: options.prototxt,
    inputShape: options.inputShape,
    onProgress: options.onProgress,
    dtype: options.dtype,
  });
  // Keys an architecture allows a file to hold or lack (BatchNorm counters) are not weights.
  let optionalKeys = new Set<string>();
  let architecture: string | undefined;
  if (!source.graph) {
    const resolved = await resolveArchitecture(source, options);
    source.graph = resolved.graph;
    source.input = { ...resolved.input, ...source.input };
    architecture = resolved.architecture;
    optionalKeys = resolved.optionalKeys;
  }
  // The cpu backend keeps zero-filled variables as untouched pages (see inject.ts): converting
  // allocates no second copy of the weights.
  await useBackend('cpu');
  const built = buildModel(source.graph, source.tensors, { mode: 'shapes' });
  const warnings = [...source.warnings];
  const unused = built.unusedTensors.filter((key) => !optionalKeys.has(key));
  if (unused.length > 0) warnings.push(`source tensors used by no layer: ${unused.join(', ')}`);
  try {
    const graft = { ...(await graftJsonFor(source, built, warnings, await sha256)), weightsDtype: options.dtype ?? 'float32' };
    await writeModelDirectory(output, built.model, built.weights, graft, {
      force: options.force,
      dtype: options.dtype,
      onProgress: options.onProgress,
    });
    const input = source.graph.inputs[0];
    return {
      output,
      format: source.format,
      name: source.graph.name,
      ...(architecture ? { architecture } : {}),
      input: { name: input.name, shape: input.shape },
      outputs: built.model.outputs.map((o, i) => ({ name: source.graph!.outputs[i], shape: o.shape })),
      layers: built.model.layers.length,
      parameters: built.model.countParams(),
      weightBytes: built.weights.reduce((sum, w) => sum + (options.dtype === 'float16' ? 2 : 4) * w.shape.reduce((a, b) => a * b, 1), 0),
      warnings,
    };
  } finally {
    built.model.dispose();
  }
}

/** A graph for a weights-only file: `--arch NAME|spec.json`, else recognised from its tensors. */
async function resolveArchitecture(source: SourceModel, options: ConvertOptions) {
  const arch = options.arch;
  let recognized: Recognized;
  if (arch !== undefined && /\.json$/i.test(arch)) {
    const architecture = await readArchitectureSpec(arch, source.format);
    recognized = { architecture, built: buildExactly(source.path, architecture, source.tensors, options.inputShape) };
  } else {
    recognized = recognizeArchitecture(source.path, source.format, source.tensors, { name: arch, inputShape: options.inputShape });
  }
  const { architecture, built } = recognized;
  return {
    graph: built.graph,
    optionalKeys: new Set([...built.expected].filter(([, param]) => param.optional).map(([key]) => key)),
    input: architecture.input,
    architecture: `${architecture.name}${arch === undefined ? ' (recognised from its tensors)' : ''}`,
  };
}

async function graftJsonFor(
  source: SourceModel,
  built: ReturnType<typeof buildModel>,
  warnings: string[],
  sha256: string,
): Promise<GraftJson> {
  const graph = source.graph!;
  const input = graph.inputs[0];
  const weights: Record<string, string[]> = {};
  for (const w of built.weights) {
    for (const key of w.sources) (weights[key] ??= []).push(w.name);
  }
  const layers: Record<string, string> = {};
  for (const [blob, id] of Object.entries(graph.blobs)) {
    const value = built.values[id];
    if (value) layers[blob] = value.layer;
  }
  for (const [id, value] of Object.entries(built.values)) layers[id] ??= value.layer;
  const spatial = input.shape.length === 4;
  return {
    graft: GRAFT_VERSION,
    format: source.format,
    source: {
      path: path.resolve(source.path),
      sha256,
      bytes: (await fs.stat(source.path)).size,
      ...(source.structurePath
        ? { structure: { path: path.resolve(source.structurePath), sha256: await sha256OfFile(source.structurePath) } }
        : {}),
    },
    input: {
      name: input.name,
      shape: input.shape,
      sourceLayout: spatial ? 'NCHW' : 'NC',
      modelLayout: spatial ? 'NHWC' : 'NC',
      ...source.input,
    },
    outputs: graph.outputs,
    layers,
    weights,
    warnings,
  };
}

