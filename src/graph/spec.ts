/**
 * `--arch spec.json`: the architecture of a custom weights-only model (a PyTorch state dict, a
 * Chainer .npz) as a sequential list of layers named and parameterised the framework's way. Each
 * layer with parameters binds them by its `name`, the state-dict key (PyTorch) or link path
 * (Chainer) without the parameter suffix; the file must then hold exactly those tensors.
 *
 *   {
 *     "name": "my_net",                                   (optional: the file's base name)
 *     "input": { "shape": [1, 3, 32, 32],                 NCHW (or [N, features]), batch first
 *                "channelOrder": "RGB", "scale": 0.00392156862745098,
 *                "mean": [0.485, 0.456, 0.406], "std": [0.229, 0.224, 0.225] },   (all optional)
 *     "layers": [
 *       { "type": "Conv2d", "name": "features.0", "out_channels": 16, "kernel_size": 3, "padding": 1 },
 *       { "type": "ReLU" },
 *       ...
 *     ]
 *   }
 *
 * Sizes are [h, w] pairs or one number for both. Arguments and defaults are PyTorch's / Chainer's;
 * an `in_*` size, when given, is checked against the value reaching the layer. Any layer may have a
 * `name` (it names the graph node, for `predict --layer`); layers with parameters must have one.
 *
 * PyTorch (format 'pytorch'):
 *   Conv2d           out_channels, kernel_size, stride=1, padding=0 (or "valid"/"same"), dilation=1,
 *                    groups=1, bias=true, in_channels, padding_mode="zeros"
 *   ConvTranspose2d  out_channels, kernel_size, stride=1, padding=0, output_padding=0, groups=1,
 *                    dilation=1, bias=true, in_channels
 *   Linear           out_features, bias=true, in_features — on [N, features] only: PyTorch applies
 *                    Linear to the last axis, so a Flatten must come first
 *   BatchNorm2d      eps=1e-5, affine=true, num_features (momentum ignored; track_running_stats must
 *                    be true). BatchNorm1d the same on [N, features].
 *   ReLU, ReLU6, Sigmoid, Tanh, LeakyReLU negative_slope=0.01, PReLU num_parameters=1
 *   MaxPool2d        kernel_size, stride=kernel_size, padding=0, ceil_mode=false
 *   AvgPool2d        kernel_size, stride=kernel_size, padding=0, ceil_mode=false, count_include_pad=true
 *   AdaptiveAvgPool2d / AdaptiveMaxPool2d  output_size (exact when it divides the input, or equals it)
 *   Flatten (start_dim=1, end_dim=-1), Dropout p=0.5, Identity, Softmax dim (1, or -1 on [N, features])
 *   LocalResponseNorm  size (odd), alpha=1e-4, beta=0.75, k=1 (PyTorch divides alpha by size)
 *
 * Chainer (format 'chainer'), links then functions:
 *   Convolution2D    out_channels, ksize, stride=1, pad=0, dilate=1, groups=1, nobias=false, in_channels
 *   Deconvolution2D  out_channels, ksize, stride=1, pad=0, nobias=false, in_channels
 *   Linear           out_size, nobias=false, in_size — flattens a spatial input (C·H·W) as Chainer does
 *   BatchNormalization  eps=2e-5, use_gamma=true, use_beta=true, size
 *   relu, leaky_relu slope=0.2, sigmoid, tanh, dropout ratio=0.5, softmax axis=1
 *   max_pooling_2d   ksize, stride=ksize, pad=0, cover_all=true (rounds the size up)
 *   average_pooling_2d  ksize, stride=ksize, pad=0 (divides by ksize² everywhere)
 *   local_response_normalization  n=5, k=2, alpha=1e-4, beta=0.75 (alpha is NOT divided by n)
 */
import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import { FormatError, UsageError } from '../errors.js';
import type { InputConvention, SourceFormat } from '../formats/source.js';
import { CHAINER_NAMING, GraphBuilder, TORCH_NAMING } from './architectures/builder.js';
import type { Architecture, BuiltArchitecture } from './architectures/registry.js';
import type { Pair } from './graph.js';

type Json = Record<string, unknown>;

export async function readArchitectureSpec(file: string, format: SourceFormat): Promise<Architecture> {
  let text: string;
  try {
    text = await fs.readFile(file, 'utf8');
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    throw new UsageError(`--arch ${file}: cannot read (${code === 'ENOENT' ? 'no such file' : (error as Error).message})`);
  }
  return parseArchitectureSpec(text, file, format);
}

/** The Architecture a spec's text describes; every layer is checked now, against the spec's own input. */
export function parseArchitectureSpec(text: string, file: string, format: SourceFormat): Architecture {
  if (format === 'caffe') throw new UsageError(`--arch ${file}: a Caffe model has its own structure (use --prototxt)`);
  const spec = parseJson(text, file);
  if (!isObject(spec)) throw new FormatError(file, undefined, 'a spec is a JSON object with "input" and "layers"');
  for (const key of Object.keys(spec)) {
    if (!['name', 'description', 'input', 'layers'].includes(key)) {
      throw new FormatError(file, key, 'unknown top-level key (a spec has name, description, input and layers)');
    }
  }
  const name = spec.name ?? path.basename(file).replace(/\.json$/i, '');
  if (typeof name !== 'string' || name === '') throw new FormatError(file, 'name', 'must be a non-empty string');
  const { shape, convention } = readInput(spec.input, file);
  if (!Array.isArray(spec.layers) || spec.layers.length === 0) throw new FormatError(file, 'layers', 'must be a non-empty array of layers');
  const layers = spec.layers as unknown[];
  const architecture: Architecture = {
    name,
    format,
    description: typeof spec.description === 'string' ? spec.description : `${layers.length} layers from ${file}`,
    inputShape: shape,
    input: convention,
    build(_tensors, options): BuiltArchitecture {
      return buildSequential(file, name, format, layers, options.inputShape ?? shape);
    },
  };
  // Bad types, arguments and sizes are reported when the spec is read, not when a file is matched.
  buildSequential(file, name, format, layers, shape);
  return architecture;
}

function isObject(value: unknown): value is Json {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function parseJson(text: string, file: string): unknown {
  try {
    return JSON.parse(text);
  } catch (error) {
    // V8's messages carry a position only for some errors ("Unexpected token" quotes the text instead).
    const reason = (error as Error).message.replace(/ in JSON at position \d+.*$/s, '').replace(/, .*is not valid JSON$/s, '');
    const offset = jsonErrorOffset(text);
    if (offset < 0) throw new FormatError(file, undefined, `invalid JSON: ${reason}`);
    const before = text.slice(0, offset);
    const line = before.split('\n').length;
    const column = offset - before.lastIndexOf('\n');
    throw new FormatError(file, `line ${line}:${column}`, `invalid JSON: ${reason}`);
  }
}

const JSON_SCALAR = /-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][+-]?\d+)?|true|false|null/y;

/** Offset of the first character JSON's grammar rejects (-1 if none is found): a recursive descent. */
function jsonErrorOffset(text: string): number {
  let i = 0;
  const fail = (): never => {
    throw i;
  };
  const space = () => {
    while (i < text.length && ' \t\n\r'.includes(text[i])) i++;
  };
  const string = () => {
    for (i++; text[i] !== '"'; i++) {
      if (i >= text.length || text.charCodeAt(i) < 0x20) fail();
      if (text[i] === '\\') i++;
    }
    i++;
  };
  const sequence = (close: string, item: () => void) => {
    i++;
    space();
    if (text[i] === close) return void i++;
    for (;;) {
      item();
      space();
      if (text[i] === close) return void i++;
      if (text[i] !== ',') fail();
      i++;
    }
  };
  const value = (): void => {
    space();
    if (text[i] === '{') {
      return sequence('}', () => {
        space();
        if (text[i] !== '"') fail();
        string();
        space();
        if (text[i] !== ':') fail();
        i++;
        value();
      });
    }
    if (text[i] === '[') return sequence(']', value);
    if (text[i] === '"') return string();
    JSON_SCALAR.lastIndex = i;
    if (!JSON_SCALAR.test(text)) fail();
    i = JSON_SCALAR.lastIndex;
  };
  try {
    value();
    space();
    if (i < text.length) fail();
  } catch (at) {
    if (typeof at === 'number') return at;
    throw at;
  }
  return -1;
}

function readInput(input: unknown, file: string): { shape: number[]; convention: InputConvention } {
  if (!isObject(input)) throw new FormatError(file, 'input', 'must be an object with "shape" (e.g. [1, 3, 224, 224])');
  const { shape, channelOrder, scale, mean, std, ...rest } = input;
  const unknown = Object.keys(rest);
  if (unknown.length) throw new FormatError(file, `input.${unknown[0]}`, 'unknown key (input has shape, channelOrder, scale, mean, std)');
  const validShape =
    Array.isArray(shape) && (shape.length === 4 || shape.length === 2) && shape.every((d) => Number.isInteger(d) && d > 0);
  if (!validShape) throw new FormatError(file, 'input.shape', 'must be [N, C, H, W] or [N, features] of positive integers');
  const convention: InputConvention = {};
  if (channelOrder !== undefined) {
    if (channelOrder !== 'RGB' && channelOrder !== 'BGR' && channelOrder !== 'GRAY') {
      throw new FormatError(file, 'input.channelOrder', 'must be "RGB", "BGR" or "GRAY"');
    }
    convention.channelOrder = channelOrder;
  }
  if (scale !== undefined) {
    if (typeof scale !== 'number' || !Number.isFinite(scale)) throw new FormatError(file, 'input.scale', 'must be a number');
    convention.scale = scale;
  }
  for (const [key, value] of [['mean', mean], ['std', std]] as const) {
    if (value === undefined) continue;
    if (!Array.isArray(value) || !value.every((v) => typeof v === 'number' && Number.isFinite(v))) {
      throw new FormatError(file, `input.${key}`, 'must be an array of numbers, one per channel');
    }
    if (shape.length === 4 && value.length !== 1 && value.length !== shape[1]) {
      throw new FormatError(file, `input.${key}`, `has ${value.length} values for ${shape[1]} channels`);
    }
    convention[key] = value;
  }
  return { shape: [...shape], convention };
}

// ---- layers ------------------------------------------------------------------------------

/** One layer's arguments, read with the framework's defaults; any problem names the layer. */
class LayerArgs {
  readonly type: string;
  readonly name: string | undefined;

  constructor(
    private readonly file: string,
    private readonly index: number,
    private readonly json: Json,
  ) {
    this.type = json.type as string;
    if (json.name !== undefined && (typeof json.name !== 'string' || json.name === '')) this.fail('name must be a non-empty string');
    this.name = json.name as string | undefined;
  }

  fail(message: string): never {
    throw new FormatError(this.file, `layers[${this.index}]`, `${this.type}: ${message}`);
  }

  /** Rejects arguments the layer does not take (a typo would otherwise be a silent default). */
  only(allowed: string[]): void {
    for (const key of Object.keys(this.json)) {
      if (key === 'type' || key === 'name' || allowed.includes(key)) continue;
      this.fail(`unknown argument "${key}"${allowed.length ? ` (it takes ${allowed.join(', ')})` : ' (it takes none)'}`);
    }
  }

  raw(key: string): unknown {
    return this.json[key];
  }

  has(key: string): boolean {
    return this.json[key] !== undefined && this.json[key] !== null;
  }

  /** The parameter prefix of a layer with weights. */
  prefix(): string {
    if (this.name === undefined) this.fail('needs a "name": the state-dict key (or link path) its parameters have, without .weight');
    return this.name;
  }

  int(key: string, fallback?: number, min = 1): number {
    const value = this.json[key] ?? fallback;
    if (value === undefined) this.fail(`needs "${key}"`);
    if (!Number.isInteger(value) || (value as number) < min) this.fail(`${key} must be an integer ≥ ${min}, got ${JSON.stringify(value)}`);
    return value as number;
  }

  pair(key: string, fallback?: number | Pair, min = 1): Pair {
    const value = this.json[key] ?? fallback;
    if (value === undefined) this.fail(`needs "${key}"`);
    const values = typeof value === 'number' ? [value, value] : value;
    if (!Array.isArray(values) || values.length !== 2 || !values.every((v) => Number.isInteger(v) && v >= min)) {
      this.fail(`${key} must be an integer ≥ ${min} or a pair [h, w] of them, got ${JSON.stringify(value)}`);
    }
    return [values[0], values[1]];
  }

  number(key: string, fallback: number, check: (v: number) => boolean = () => true, rule = 'a number'): number {
    const value = this.json[key] ?? fallback;
    if (typeof value !== 'number' || !Number.isFinite(value) || !check(value)) this.fail(`${key} must be ${rule}, got ${JSON.stringify(value)}`);
    return value;
  }

  bool(key: string, fallback: boolean): boolean {
    const value = this.json[key] ?? fallback;
    if (typeof value !== 'boolean') this.fail(`${key} must be true or false, got ${JSON.stringify(value)}`);
    return value;
  }

  /** An argument graft only supports at one value (PyTorch's output_padding, Chainer's outsize...). */
  fixed(key: string, supported: unknown, why: string): void {
    const value = this.json[key];
    if (value === undefined || value === null) return;
    const same = JSON.stringify(value) === JSON.stringify(supported) || (Array.isArray(value) && value.every((v) => v === supported));
    if (!same) this.fail(`${key} ${JSON.stringify(value)} is not supported (${why})`);
  }
}

interface Step {
  b: GraphBuilder;
  x: string;
  args: LayerArgs;
}

type LayerRule = { takes: string[]; apply(step: Step): string };

function channelsOf(step: Step): number {
  return step.b.shapeOf(step.x)[1];
}

function spatial(step: Step): void {
  const shape = step.b.shapeOf(step.x);
  if (shape.length !== 4) step.args.fail(`needs an [N, C, H, W] input, got [${shape.join(', ')}]`);
}

function flat(step: Step, why: string): void {
  const shape = step.b.shapeOf(step.x);
  if (shape.length !== 2) step.args.fail(`needs an [N, features] input, got [${shape.join(', ')}] (${why})`);
}

/** `in_channels` / `in_features` / `size`, when the spec gives one, must be what reaches the layer. */
function checkIn(step: Step, key: string, actual: number): void {
  if (step.args.has(key) && step.args.int(key) !== actual) {
    step.args.fail(`${key} is ${step.args.int(key)} but the input to this layer has ${actual} (shape [${step.b.shapeOf(step.x).join(', ')}])`);
  }
}

function checkGroups(step: Step, groups: number, filters: number): void {
  const channels = channelsOf(step);
  if (channels % groups !== 0 || filters % groups !== 0) {
    step.args.fail(`groups ${groups} must divide both the ${channels} input channels and the ${filters} outputs`);
  }
}

/** PyTorch and Chainer both refuse a pool whose padding exceeds half its window. */
function checkPoolPad(step: Step, kernel: Pair, pad: Pair): void {
  if (pad[0] > kernel[0] / 2 || pad[1] > kernel[1] / 2) step.args.fail(`padding [${pad}] must be at most half the kernel size [${kernel}]`);
}

function activation(op: 'sigmoid' | 'tanh' | 'relu6'): LayerRule {
  return { takes: ['inplace'], apply: ({ b, x, args }) => b.activation(op, x, args.name) };
}

const IDENTITY: LayerRule = { takes: ['inplace'], apply: ({ x }) => x };

/** PyTorch's 'same' padding is symmetric only for an odd effective kernel (it pads the far side more otherwise). */
function torchPadding(step: Step, kernel: Pair, dilation: Pair, stride: Pair): Pair {
  const { args } = step;
  const value = args.raw('padding');
  if (value === 'valid') return [0, 0];
  if (value === 'same') {
    if (stride[0] !== 1 || stride[1] !== 1) args.fail('padding "same" needs stride 1 (as in PyTorch)');
    const total = [dilation[0] * (kernel[0] - 1), dilation[1] * (kernel[1] - 1)];
    if (total[0] % 2 || total[1] % 2) args.fail('padding "same" with an even kernel pads one side more; give explicit padding instead');
    return [total[0] / 2, total[1] / 2];
  }
  return args.pair('padding', 0, 0);
}

const TORCH_LAYERS: Record<string, LayerRule> = {
  Conv2d: {
    takes: ['in_channels', 'out_channels', 'kernel_size', 'stride', 'padding', 'dilation', 'groups', 'bias', 'padding_mode'],
    apply(step) {
      const { b, x, args } = step;
      spatial(step);
      checkIn(step, 'in_channels', channelsOf(step));
      args.fixed('padding_mode', 'zeros', 'only zero padding');
      const filters = args.int('out_channels');
      const kernel = args.pair('kernel_size');
      const stride = args.pair('stride', 1);
      const dilation = args.pair('dilation', 1);
      const groups = args.int('groups', 1);
      checkGroups(step, groups, filters);
      const pad = torchPadding(step, kernel, dilation, stride);
      return b.conv2d(args.prefix(), x, { filters, kernel, stride, pad, dilation, groups, bias: args.bool('bias', true) });
    },
  },
  ConvTranspose2d: {
    takes: ['in_channels', 'out_channels', 'kernel_size', 'stride', 'padding', 'output_padding', 'groups', 'dilation', 'bias', 'padding_mode'],
    apply(step) {
      const { b, x, args } = step;
      spatial(step);
      checkIn(step, 'in_channels', channelsOf(step));
      args.fixed('output_padding', 0, 'graft builds transposed convs without output padding');
      args.fixed('groups', 1, 'no grouped transposed convolution');
      args.fixed('dilation', 1, 'no dilated transposed convolution');
      args.fixed('padding_mode', 'zeros', 'only zero padding');
      const options = { filters: args.int('out_channels'), kernel: args.pair('kernel_size'), stride: args.pair('stride', 1), pad: args.pair('padding', 0, 0) };
      return b.deconv2d(args.prefix(), x, { ...options, bias: args.bool('bias', true) });
    },
  },
  Linear: {
    takes: ['in_features', 'out_features', 'bias'],
    apply(step) {
      const { b, x, args } = step;
      flat(step, 'PyTorch applies Linear to the last axis: put a Flatten before it');
      checkIn(step, 'in_features', channelsOf(step));
      return b.dense(args.prefix(), x, args.int('out_features'), args.bool('bias', true));
    },
  },
  BatchNorm2d: batchNorm(4),
  BatchNorm1d: batchNorm(2),
  ReLU: { takes: ['inplace'], apply: ({ b, x, args }) => b.relu(x, args.name) },
  ReLU6: activation('relu6'),
  Sigmoid: { takes: [], apply: ({ b, x, args }) => b.activation('sigmoid', x, args.name) },
  Tanh: { takes: [], apply: ({ b, x, args }) => b.activation('tanh', x, args.name) },
  LeakyReLU: {
    takes: ['negative_slope', 'inplace'],
    apply: ({ b, x, args }) => b.relu(x, args.name, args.number('negative_slope', 0.01)),
  },
  PReLU: {
    takes: ['num_parameters', 'init'],
    apply(step) {
      const { b, x, args } = step;
      const count = args.int('num_parameters', 1);
      if (count !== 1 && count !== channelsOf(step)) args.fail(`num_parameters must be 1 or the ${channelsOf(step)} channels, got ${count}`);
      return b.prelu(args.prefix(), x, count === 1);
    },
  },
  MaxPool2d: {
    takes: ['kernel_size', 'stride', 'padding', 'dilation', 'ceil_mode', 'return_indices'],
    apply(step) {
      const { b, x, args } = step;
      spatial(step);
      args.fixed('dilation', 1, 'no dilated pooling');
      args.fixed('return_indices', false, 'a model has one output per layer');
      const kernel = args.pair('kernel_size');
      const pad = args.pair('padding', 0, 0);
      checkPoolPad(step, kernel, pad);
      const stride = args.pair('stride', kernel);
      return b.pool('max', x, { kernel, stride, pad, rounding: args.bool('ceil_mode', false) ? 'ceil' : 'floor' }, args.name);
    },
  },
  AvgPool2d: {
    takes: ['kernel_size', 'stride', 'padding', 'ceil_mode', 'count_include_pad', 'divisor_override'],
    apply(step) {
      const { b, x, args } = step;
      spatial(step);
      args.fixed('divisor_override', null, 'the divisor follows count_include_pad');
      const kernel = args.pair('kernel_size');
      const pad = args.pair('padding', 0, 0);
      checkPoolPad(step, kernel, pad);
      const stride = args.pair('stride', kernel);
      const rounding = args.bool('ceil_mode', false) ? 'ceil' : 'floor';
      const avgDivisor = args.bool('count_include_pad', true) ? 'padded' : 'valid';
      return b.pool('avg', x, { kernel, stride, pad, rounding, avgDivisor }, args.name);
    },
  },
  AdaptiveAvgPool2d: adaptive('avg'),
  AdaptiveMaxPool2d: adaptive('max'),
  Flatten: {
    takes: ['start_dim', 'end_dim'],
    apply({ b, x, args }) {
      if (args.int('start_dim', 1, -10) !== 1 || args.int('end_dim', -1, -10) !== -1) args.fail('only start_dim 1, end_dim -1 (the default) is supported');
      return b.shapeOf(x).length === 2 ? x : b.flatten(x, args.name);
    },
  },
  Dropout: { takes: ['p', 'inplace'], apply: ({ b, x, args }) => b.dropout(x, args.number('p', 0.5, (p) => p >= 0 && p < 1, 'in [0, 1)'), args.name) },
  Identity: IDENTITY,
  Softmax: {
    takes: ['dim'],
    apply({ b, x, args }) {
      const rank = b.shapeOf(x).length;
      const dim = args.int('dim', undefined, -rank);
      if ((dim < 0 ? dim + rank : dim) !== 1) args.fail(`only the channel/feature axis (dim 1) is supported, got dim ${dim} on a rank-${rank} value`);
      return b.softmax(x, args.name);
    },
  },
  LocalResponseNorm: {
    takes: ['size', 'alpha', 'beta', 'k'],
    apply(step) {
      const { b, x, args } = step;
      spatial(step);
      const size = args.int('size');
      // torch.nn.functional.local_response_norm pads size//2 channels before and (size-1)//2 after:
      // an even window is off-centre, which graft's LRN (a centred window) cannot express.
      if (size % 2 === 0) args.fail(`size must be odd (PyTorch centres an even window unevenly), got ${size}`);
      const alpha = args.number('alpha', 1e-4);
      return b.lrn(x, { size, alpha: alpha / size, beta: args.number('beta', 0.75), k: args.number('k', 1) }, args.name);
    },
  },
};

function batchNorm(rank: 2 | 4): LayerRule {
  return {
    takes: ['num_features', 'eps', 'momentum', 'affine', 'track_running_stats'],
    apply(step) {
      const { b, x, args } = step;
      if (rank === 4) spatial(step);
      else flat(step, 'BatchNorm1d on [N, C, L] is not supported');
      checkIn(step, 'num_features', channelsOf(step));
      args.fixed('track_running_stats', true, 'without running statistics eval() normalises by the batch');
      return b.batchnorm(args.prefix(), x, args.number('eps', 1e-5, (e) => e > 0, 'positive'), args.bool('affine', true));
    },
  };
}

function adaptive(mode: 'avg' | 'max'): LayerRule {
  return {
    takes: ['output_size', 'return_indices'],
    apply(step) {
      const { b, x, args } = step;
      spatial(step);
      args.fixed('return_indices', false, 'a model has one output per layer');
      return b.adaptivePool(mode, x, args.pair('output_size'), args.name);
    },
  };
}

const CHAINER_LAYERS: Record<string, LayerRule> = {
  Convolution2D: {
    takes: ['in_channels', 'out_channels', 'ksize', 'stride', 'pad', 'dilate', 'groups', 'nobias'],
    apply(step) {
      const { b, x, args } = step;
      spatial(step);
      checkIn(step, 'in_channels', channelsOf(step));
      const filters = args.int('out_channels');
      const groups = args.int('groups', 1);
      checkGroups(step, groups, filters);
      return b.conv2d(args.prefix(), x, {
        filters,
        kernel: args.pair('ksize'),
        stride: args.pair('stride', 1),
        pad: args.pair('pad', 0, 0),
        dilation: args.pair('dilate', 1),
        groups,
        bias: !args.bool('nobias', false),
      });
    },
  },
  Deconvolution2D: {
    takes: ['in_channels', 'out_channels', 'ksize', 'stride', 'pad', 'nobias', 'outsize', 'groups', 'dilate'],
    apply(step) {
      const { b, x, args } = step;
      spatial(step);
      checkIn(step, 'in_channels', channelsOf(step));
      args.fixed('outsize', null, 'the output size follows from ksize, stride and pad');
      args.fixed('groups', 1, 'no grouped deconvolution');
      args.fixed('dilate', 1, 'no dilated deconvolution');
      return b.deconv2d(args.prefix(), x, {
        filters: args.int('out_channels'),
        kernel: args.pair('ksize'),
        stride: args.pair('stride', 1),
        pad: args.pair('pad', 0, 0),
        bias: !args.bool('nobias', false),
      });
    },
  },
  Linear: {
    takes: ['in_size', 'out_size', 'nobias'],
    apply(step) {
      const { b, x, args } = step;
      // L.Linear reshapes its input to (N, -1): a spatial value is flattened in C·H·W order.
      const features = b.shapeOf(x).slice(1).reduce((a, c) => a * c, 1);
      checkIn(step, 'in_size', features);
      return b.dense(args.prefix(), x, args.int('out_size'), !args.bool('nobias', false));
    },
  },
  BatchNormalization: {
    takes: ['size', 'eps', 'decay', 'use_gamma', 'use_beta'],
    apply(step) {
      const { b, x, args } = step;
      checkIn(step, 'size', channelsOf(step));
      const gamma = args.bool('use_gamma', true);
      if (gamma !== args.bool('use_beta', true)) args.fail('use_gamma and use_beta must agree (graft keeps both or neither)');
      return b.batchnorm(args.prefix(), x, args.number('eps', 2e-5, (e) => e > 0, 'positive'), gamma);
    },
  },
  relu: { takes: [], apply: ({ b, x, args }) => b.relu(x, args.name) },
  leaky_relu: { takes: ['slope'], apply: ({ b, x, args }) => b.relu(x, args.name, args.number('slope', 0.2)) },
  sigmoid: { takes: [], apply: ({ b, x, args }) => b.activation('sigmoid', x, args.name) },
  tanh: { takes: [], apply: ({ b, x, args }) => b.activation('tanh', x, args.name) },
  dropout: { takes: ['ratio'], apply: ({ b, x, args }) => b.dropout(x, args.number('ratio', 0.5, (p) => p >= 0 && p < 1, 'in [0, 1)'), args.name) },
  softmax: {
    takes: ['axis'],
    apply({ b, x, args }) {
      if (args.int('axis', 1, -10) !== 1) args.fail('only axis 1 (channels) is supported');
      return b.softmax(x, args.name);
    },
  },
  max_pooling_2d: chainerPool('max'),
  average_pooling_2d: chainerPool('avg'),
  local_response_normalization: {
    takes: ['n', 'k', 'alpha', 'beta'],
    apply(step) {
      const { b, x, args } = step;
      spatial(step);
      const size = args.int('n', 5);
      if (size % 2 === 0) args.fail(`n must be odd, got ${size}`);
      // Chainer's formula applies alpha to the window's sum as is (no division by n, unlike Caffe/PyTorch).
      return b.lrn(x, { size, k: args.number('k', 2), alpha: args.number('alpha', 1e-4), beta: args.number('beta', 0.75) }, args.name);
    },
  },
};

function chainerPool(mode: 'max' | 'avg'): LayerRule {
  return {
    takes: mode === 'max' ? ['ksize', 'stride', 'pad', 'cover_all'] : ['ksize', 'stride', 'pad'],
    apply(step) {
      const { b, x, args } = step;
      spatial(step);
      const kernel = args.pair('ksize');
      const pad = args.pair('pad', 0, 0);
      checkPoolPad(step, kernel, pad);
      const stride = args.pair('stride', kernel);
      if (mode === 'max') {
        // F.max_pooling_2d defaults to cover_all=True: one more window whenever they do not tile exactly.
        return b.pool('max', x, { kernel, stride, pad, rounding: args.bool('cover_all', true) ? 'cover_all' : 'floor' }, args.name);
      }
      // F.average_pooling_2d has no cover_all (it rounds down) and divides by ksize² even over padding.
      return b.pool('avg', x, { kernel, stride, pad, rounding: 'floor', avgDivisor: 'window' }, args.name);
    },
  };
}

const VOCABULARIES: Record<'pytorch' | 'chainer', Record<string, LayerRule>> = { pytorch: TORCH_LAYERS, chainer: CHAINER_LAYERS };

function buildSequential(file: string, name: string, format: 'pytorch' | 'chainer', layers: unknown[], inputShape: number[]): BuiltArchitecture {
  const vocabulary = VOCABULARIES[format];
  const other = VOCABULARIES[format === 'pytorch' ? 'chainer' : 'pytorch'];
  const b = new GraphBuilder(name, [...inputShape], format === 'pytorch' ? TORCH_NAMING : CHAINER_NAMING);
  let x = b.input;
  layers.forEach((json, index) => {
    const where = `layers[${index}]`;
    if (!isObject(json)) throw new FormatError(file, where, 'a layer is an object with a "type"');
    if (typeof json.type !== 'string') throw new FormatError(file, where, 'needs a "type" (e.g. "Conv2d")');
    const rule = Object.prototype.hasOwnProperty.call(vocabulary, json.type) ? vocabulary[json.type] : undefined;
    if (!rule) {
      const hint = Object.prototype.hasOwnProperty.call(other, json.type)
        ? `: that is ${format === 'pytorch' ? 'Chainer' : 'PyTorch'} vocabulary, and this is a ${format} file`
        : '';
      throw new FormatError(file, where, `unknown layer type "${json.type}"${hint} (known: ${Object.keys(vocabulary).join(', ')})`);
    }
    const args = new LayerArgs(file, index, json);
    args.only(rule.takes);
    try {
      x = rule.apply({ b, x, args });
    } catch (error) {
      if (error instanceof FormatError) throw error;
      // The DSL's own checks (an input too small for a kernel, a name used twice) name this layer too.
      args.fail((error as Error).message);
    }
  });
  return { graph: b.build([x]), expected: b.expected };
}
