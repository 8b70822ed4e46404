/**
 * Architectures for weight-only files (.pth state dicts, Chainer .npz): each definition builds the
 * graph and the parameter keys/shapes it needs; a file's architecture is the one whose expected
 * parameters its tensors match exactly. The nearest miss is reported with the keys that differ.
 */
import { UsageError } from '../../errors.js';
import type { InputConvention, SourceFormat } from '../../formats/source.js';
import type { TensorMap } from '../../tensor/tensor.js';
import type { Graph } from '../graph.js';
import type { ExpectedParam } from './builder.js';

export interface BuiltArchitecture {
  graph: Graph;
  expected: Map<string, ExpectedParam>;
}

export interface Architecture {
  /** `vgg16`, `resnet50`, `VGG16Layers`... (what `--arch NAME` accepts). */
  name: string;
  format: SourceFormat;
  description: string;
  /** Default input shape (NCHW, batch 1) and preprocessing of the framework's model zoo. */
  inputShape: number[];
  input: InputConvention;
  /**
   * Builds the graph for `tensors`. Free sizes (number of classes, an input size) are read from
   * the tensors where the file fixes them, so fine-tuned checkpoints with a new head still match.
   */
  build(tensors: TensorMap, options: { inputShape?: number[] }): BuiltArchitecture;
}

export interface ParamComparison {
  missing: string[];
  unexpected: string[];
  wrongShape: { key: string; expected: number[]; actual: number[] }[];
}

export function compareParams(expected: Map<string, ExpectedParam>, tensors: TensorMap): ParamComparison {
  const missing: string[] = [];
  const wrongShape: ParamComparison['wrongShape'] = [];
  for (const [key, param] of expected) {
    const tensor = tensors.get(key);
    if (!tensor) {
      if (!param.optional) missing.push(key);
      continue;
    }
    // A scalar counter may be saved as shape [] or [1].
    const same =
      tensor.shape.length === param.shape.length
        ? tensor.shape.every((d, i) => d === param.shape[i])
        : param.optional && tensor.shape.reduce((a, b) => a * b, 1) === 1;
    if (!same) wrongShape.push({ key, expected: param.shape, actual: [...tensor.shape] });
  }
  const unexpected = [...tensors.keys()].filter((key) => !expected.has(key));
  return { missing, unexpected, wrongShape };
}

function isExact(c: ParamComparison): boolean {
  return c.missing.length === 0 && c.unexpected.length === 0 && c.wrongShape.length === 0;
}

function distance(c: ParamComparison): number {
  return c.missing.length + c.unexpected.length + c.wrongShape.length;
}

const registry: Architecture[] = [];

/** Adds definitions (each architecture module calls this once). */
export function registerArchitectures(...architectures: Architecture[]): void {
  for (const a of architectures) if (!registry.some((r) => r.name === a.name && r.format === a.format)) registry.push(a);
}

export function architectures(format?: SourceFormat): Architecture[] {
  return registry.filter((a) => format === undefined || a.format === format);
}

export interface Recognized {
  architecture: Architecture;
  built: BuiltArchitecture;
}

function tryBuild(architecture: Architecture, tensors: TensorMap, inputShape?: number[]): BuiltArchitecture | undefined {
  try {
    return architecture.build(tensors, { inputShape });
  } catch {
    return undefined;
  }
}

function describe(c: ParamComparison, limit = 6): string {
  const parts: string[] = [];
  const list = (keys: string[]) => keys.slice(0, limit).join(', ') + (keys.length > limit ? `, … (${keys.length} in all)` : '');
  if (c.missing.length) parts.push(`missing ${list(c.missing)}`);
  if (c.unexpected.length) parts.push(`unexpected ${list(c.unexpected)}`);
  if (c.wrongShape.length) {
    const shown = c.wrongShape.slice(0, limit).map((w) => `${w.key} [${w.actual}] (expected [${w.expected}])`);
    parts.push(`different shapes ${shown.join(', ')}${c.wrongShape.length > limit ? `, … (${c.wrongShape.length} in all)` : ''}`);
  }
  return parts.join('; ');
}

/** Builds `architecture` for `tensors`, which must fit it exactly (a UsageError says what differs). */
export function buildExactly(file: string, architecture: Architecture, tensors: TensorMap, inputShape?: number[]): BuiltArchitecture {
  const built = architecture.build(tensors, { inputShape });
  const comparison = compareParams(built.expected, tensors);
  if (!isExact(comparison)) throw new UsageError(`${file}: its tensors do not fit ${architecture.name}: ${describe(comparison)}`);
  return built;
}

/**
 * The architecture `tensors` hold: `name` when given (it must match exactly), else the one that
 * matches exactly. Otherwise a UsageError naming the closest architecture and what differs.
 */
export function recognizeArchitecture(
  file: string,
  format: SourceFormat,
  tensors: TensorMap,
  options: { name?: string; inputShape?: number[] } = {},
): Recognized {
  const candidates = architectures(format);
  if (options.name !== undefined) {
    const architecture = candidates.find((a) => a.name.toLowerCase() === options.name!.toLowerCase());
    if (!architecture) {
      throw new UsageError(`--arch ${options.name}: unknown ${format} architecture (known: ${candidates.map((a) => a.name).join(', ')})`);
    }
    return { architecture, built: buildExactly(file, architecture, tensors, options.inputShape) };
  }
  let best: { architecture: Architecture; comparison: ParamComparison } | undefined;
  for (const architecture of candidates) {
    const built = tryBuild(architecture, tensors, options.inputShape);
    if (!built) {
      // The tensors may fit and only the requested input shape not: say that, not "no match".
      const plain = options.inputShape ? tryBuild(architecture, tensors) : undefined;
      if (plain && isExact(compareParams(plain.expected, tensors))) architecture.build(tensors, { inputShape: options.inputShape });
      continue;
    }
    const comparison = compareParams(built.expected, tensors);
    if (isExact(comparison)) return { architecture, built };
    if (!best || distance(comparison) < distance(best.comparison)) best = { architecture, comparison };
  }
  const hint = `pass --arch NAME (${candidates.map((a) => a.name).join(', ') || 'none known'}) or --arch spec.json; a model built for another input size also needs --input-shape N,C,H,W`;
  if (!best) throw new UsageError(`${file}: no known ${format} architecture matches its ${tensors.size} tensors; ${hint}`);
  throw new UsageError(
    `${file}: no known ${format} architecture matches its ${tensors.size} tensors; closest is ${best.architecture.name} (${describe(best.comparison)}); ${hint}`,
  );
}
