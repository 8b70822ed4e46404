/**
 * One Caffe layer → one graph node, with its parameters checked against its blobs. Blob tensors
 * whose stored shape differs from the graph contract (legacy 4-D biases and InnerProduct weights,
 * transposed InnerProduct weights) are replaced in the TensorMap by the contract's shape.
 */
import { FormatError, UnsupportedError } from '../../errors.js';
import type { GraphNode, Pair } from '../../graph/graph.js';
import { outInToInOut } from '../../tensor/layout.js';
import { float32Tensor, sizeOf, toFloat32, type Tensor, type TensorMap } from '../../tensor/tensor.js';
import type { CaffeLayer } from './layers.js';
import { caffeSchema, isSet, toInt, type ParamMsg } from './schema.js';

export interface LayerContext {
  layer: CaffeLayer;
  /** SSA ids of the layer's bottoms and tops. */
  inputs: string[];
  outputs: string[];
  tensors: TensorMap;
  /** The file the layer's definition comes from (prototxt or caffemodel). */
  structureFile: string;
  /** The caffemodel, where its blobs are. */
  weightsFile: string;
}

/** Layer types whose blobs are learned parameters the graph needs. */
export const PARAMETRIC_TYPES = new Set(['Convolution', 'Deconvolution', 'InnerProduct', 'BatchNorm', 'Scale', 'PReLU', 'Bias', 'Embed']);

/** Types that take several bottoms (Scale's second bottom is rejected by its converter). */
const MULTI_INPUT_TYPES = new Set(['Concat', 'Eltwise', 'Scale']);

type Converter = (ctx: LayerContext) => GraphNode;

const CONVERTERS: Record<string, Converter> = {
  Convolution: (ctx) => convolution(ctx, 'conv2d'),
  Deconvolution: (ctx) => convolution(ctx, 'deconv2d'),
  InnerProduct: innerProduct,
  Pooling: pooling,
  ReLU: (ctx) => node(ctx, 'relu', { negativeSlope: Number(param(ctx, 'relu_param').negative_slope) }),
  PReLU: prelu,
  Sigmoid: (ctx) => node(ctx, 'sigmoid', {}),
  TanH: (ctx) => node(ctx, 'tanh', {}),
  LRN: lrn,
  BatchNorm: batchNorm,
  Scale: scale,
  Dropout: (ctx) => node(ctx, 'dropout', { rate: Number(param(ctx, 'dropout_param').dropout_ratio) }),
  Softmax: (ctx) => node(ctx, 'softmax', { axis: toInt(param(ctx, 'softmax_param').axis as number) }),
  Concat: concat,
  Eltwise: eltwise,
  Flatten: flatten,
};

export function layerNode(ctx: LayerContext): GraphNode {
  const convert = CONVERTERS[ctx.layer.type];
  if (!convert) throw new UnsupportedError(`${ctx.structureFile}: layer '${ctx.layer.name}' has type '${ctx.layer.type}', which graft cannot convert`);
  if (!PARAMETRIC_TYPES.has(ctx.layer.type)) expectBlobCount(ctx, 0, 'no learned parameters');
  if (ctx.outputs.length !== 1) throw unsupported(ctx, `${ctx.outputs.length} tops (graft converts layers with one top)`);
  if (ctx.inputs.length === 0) throw structureError(ctx, 'no bottom');
  if (ctx.inputs.length > 1 && !MULTI_INPUT_TYPES.has(ctx.layer.type)) {
    throw unsupported(ctx, `${ctx.inputs.length} bottoms (graft converts this type with one bottom)`);
  }
  return convert(ctx);
}

// ---- helpers --------------------------------------------------------------------------------------

function node<N extends GraphNode>(ctx: LayerContext, op: N['op'], attrs: N['attrs'], params: Record<string, string> = {}): N {
  return { name: ctx.layer.name, op, inputs: ctx.inputs, outputs: ctx.outputs, attrs, params } as N;
}

/** The layer's `<field>` sub-message, or an empty one whose prototype supplies the proto defaults. */
function param(ctx: LayerContext, field: string): ParamMsg {
  const present = ctx.layer.message[field];
  if (present) return present as ParamMsg;
  const layerType = caffeSchema().root.lookupType('caffe.LayerParameter');
  const type = layerType.fields[field].resolvedType as unknown as { create(): ParamMsg };
  return type.create();
}

function structureError(ctx: LayerContext, detail: string): FormatError {
  return new FormatError(ctx.structureFile, undefined, `layer '${ctx.layer.name}' (${ctx.layer.type}): ${detail}`);
}

function weightsError(ctx: LayerContext, detail: string): FormatError {
  return new FormatError(ctx.weightsFile, undefined, `layer '${ctx.layer.name}' (${ctx.layer.type}): ${detail}`);
}

function unsupported(ctx: LayerContext, detail: string): UnsupportedError {
  return new UnsupportedError(`${ctx.structureFile}: layer '${ctx.layer.name}' (${ctx.layer.type}): ${detail}`);
}

/** Number of blobs the caffemodel holds for a layer name (`<name>/0`, `<name>/1`, ...). */
export function blobCount(tensors: TensorMap, layerName: string): number {
  let n = 0;
  while (tensors.has(`${layerName}/${n}`)) n++;
  return n;
}

function expectBlobCount(ctx: LayerContext, expected: number, what: string): void {
  const count = blobCount(ctx.tensors, ctx.layer.name);
  if (count !== expected) throw weightsError(ctx, `has ${count} blob${count === 1 ? '' : 's'}; expected ${expected} (${what})`);
}

function blobKey(ctx: LayerContext, index: number): string {
  return `${ctx.layer.name}/${index}`;
}

function blob(ctx: LayerContext, index: number): Tensor {
  return ctx.tensors.get(blobKey(ctx, index))!;
}

/** A per-channel blob: any stored shape with `count` values (legacy files use (1,1,1,n)) → [count]. */
function vectorBlob(ctx: LayerContext, index: number, count: number | undefined, what: string): string {
  const key = blobKey(ctx, index);
  const tensor = blob(ctx, index);
  const n = sizeOf(tensor.shape);
  if (count !== undefined && n !== count) {
    throw weightsError(ctx, `${what} blob has shape [${tensor.shape.join(', ')}]; expected ${count} values`);
  }
  if (tensor.shape.length !== 1) ctx.tensors.set(key, float32Tensor([n], toFloat32(tensor)));
  return key;
}

function positiveInt(ctx: LayerContext, p: ParamMsg, field: string): number {
  if (!isSet(p, field)) throw structureError(ctx, `${field} is not set`);
  const value = toInt(p[field] as number);
  if (value <= 0) throw structureError(ctx, `${field} must be positive, got ${value}`);
  return value;
}

/**
 * A 2-D size given as `<base>_h` + `<base>_w`, or `<base>` once (both axes) or twice (h, w). The
 * convolution fields are repeated, the pooling ones singular.
 */
function spatial(ctx: LayerContext, p: ParamMsg, base: string, fallback: number | undefined, min: number): Pair {
  const hName = `${base}_h`;
  const wName = `${base}_w`;
  // The one-value form of the kernel is `kernel_size`; pad, stride and dilation use their own name.
  const listName = base === 'kernel' ? 'kernel_size' : base;
  let pair: Pair;
  const listed = p[listName];
  const values = Array.isArray(listed) ? (listed as number[]).map((v) => toInt(v)) : isSet(p, listName) ? [toInt(listed as number)] : [];
  if (isSet(p, hName) || isSet(p, wName)) {
    if (values.length > 0) throw structureError(ctx, `give either ${listName} or ${hName}/${wName}, not both`);
    const h = isSet(p, hName) ? toInt(p[hName] as number) : fallback;
    const w = isSet(p, wName) ? toInt(p[wName] as number) : fallback;
    if (h === undefined || w === undefined) throw structureError(ctx, `${hName} and ${wName} must be given together`);
    pair = [h, w];
  } else if (values.length === 0) {
    if (fallback === undefined) throw structureError(ctx, `${listName} is not set`);
    pair = [fallback, fallback];
  } else if (values.length === 1) {
    pair = [values[0], values[0]];
  } else if (values.length === 2) {
    pair = [values[0], values[1]];
  } else {
    throw unsupported(ctx, `${values.length}-D ${listName} (only 2-D layers are supported)`);
  }
  if (pair[0] < min || pair[1] < min) throw structureError(ctx, `${listName} must be at least ${min}, got [${pair.join(', ')}]`);
  return pair;
}

function expectAxisOne(ctx: LayerContext, p: ParamMsg, field = 'axis'): void {
  const axis = toInt(p[field] as number);
  if (axis !== 1) throw unsupported(ctx, `${field} ${axis} (only the channel axis, 1, is supported)`);
}

// ---- converters -----------------------------------------------------------------------------------

function convolution(ctx: LayerContext, op: 'conv2d' | 'deconv2d'): GraphNode {
  const p = param(ctx, 'convolution_param');
  expectAxisOne(ctx, p);
  const filters = positiveInt(ctx, p, 'num_output');
  const groups = toInt(p.group as number);
  if (groups <= 0 || filters % groups !== 0) throw structureError(ctx, `num_output ${filters} is not divisible by group ${groups}`);
  const kernel = spatial(ctx, p, 'kernel', undefined, 1);
  const attrs = {
    filters,
    kernel,
    stride: spatial(ctx, p, 'stride', 1, 1),
    pad: spatial(ctx, p, 'pad', 0, 0),
    dilation: spatial(ctx, p, 'dilation', 1, 1),
    groups,
    bias: Boolean(p.bias_term),
  };
  expectBlobCount(ctx, attrs.bias ? 2 : 1, attrs.bias ? 'weights and bias' : 'weights; bias_term is false');
  const W = blob(ctx, 0);
  const [kh, kw] = kernel;
  // Convolution stores [O, I/g, kh, kw]; Deconvolution [I, O/g, kh, kw].
  const fits =
    W.shape.length === 4 &&
    W.shape[2] === kh &&
    W.shape[3] === kw &&
    (op === 'conv2d' ? W.shape[0] === filters : W.shape[1] * groups === filters && W.shape[0] % groups === 0);
  if (!fits) {
    const expected = op === 'conv2d' ? `[${filters}, C/${groups}, ${kh}, ${kw}]` : `[C, ${filters}/${groups}, ${kh}, ${kw}]`;
    throw weightsError(ctx, `weights have shape [${W.shape.join(', ')}]; expected ${expected}`);
  }
  const params: Record<string, string> = { W: blobKey(ctx, 0) };
  if (attrs.bias) params.b = vectorBlob(ctx, 1, filters, 'bias');
  return node(ctx, op, attrs, params);
}

function innerProduct(ctx: LayerContext): GraphNode {
  const p = param(ctx, 'inner_product_param');
  expectAxisOne(ctx, p);
  const units = positiveInt(ctx, p, 'num_output');
  const bias = Boolean(p.bias_term);
  expectBlobCount(ctx, bias ? 2 : 1, bias ? 'weights and bias' : 'weights; bias_term is false');
  const key = blobKey(ctx, 0);
  const W = blob(ctx, 0);
  // Current files store [out, in]; V1-era files a 4-D (1, 1, out, in); `transpose: true` means [in, out].
  let matrix: number[] | undefined;
  if (W.shape.length === 2) matrix = [...W.shape];
  else if (W.shape.length === 4 && W.shape[0] === 1 && W.shape[1] === 1) matrix = [W.shape[2], W.shape[3]];
  const transposed = Boolean(p.transpose);
  const outAxis = transposed ? 1 : 0;
  if (!matrix || matrix[outAxis] !== units) {
    const expected = transposed ? `[in, ${units}] (transpose: true)` : `[${units}, in]`;
    throw weightsError(ctx, `weights have shape [${W.shape.join(', ')}]; expected ${expected}`);
  }
  if (transposed) ctx.tensors.set(key, float32Tensor([matrix[1], matrix[0]], outInToInOut(toFloat32(W), matrix)));
  else if (W.shape.length !== 2) ctx.tensors.set(key, float32Tensor(matrix, toFloat32(W)));
  const params: Record<string, string> = { W: key };
  if (bias) params.b = vectorBlob(ctx, 1, units, 'bias');
  return node(ctx, 'dense', { units, bias }, params);
}

function pooling(ctx: LayerContext): GraphNode {
  const p = param(ctx, 'pooling_param');
  const method = toInt(p.pool as number);
  if (method === 2) throw unsupported(ctx, 'STOCHASTIC pooling');
  if (method !== 0 && method !== 1) throw structureError(ctx, `unknown pooling method ${method}`);
  const global = Boolean(p.global_pooling);
  // Caffe rounds the output size up unless a newer build is asked to round down.
  const rounding = toInt(p.round_mode as number) === 1 ? 'floor' : 'ceil';
  return node(ctx, 'pool2d', {
    mode: method === 0 ? 'max' : 'avg',
    kernel: global ? spatial(ctx, p, 'kernel', 1, 1) : spatial(ctx, p, 'kernel', undefined, 1),
    stride: spatial(ctx, p, 'stride', 1, 1),
    pad: spatial(ctx, p, 'pad', 0, 0),
    global,
    rounding,
    avgDivisor: 'padded',
  });
}

function prelu(ctx: LayerContext): GraphNode {
  const p = param(ctx, 'prelu_param');
  const channelShared = Boolean(p.channel_shared);
  expectBlobCount(ctx, 1, 'slopes');
  const slope = vectorBlob(ctx, 0, channelShared ? 1 : undefined, 'slope');
  return node(ctx, 'prelu', { channelShared }, { slope });
}

function lrn(ctx: LayerContext): GraphNode {
  const p = param(ctx, 'lrn_param');
  if (toInt(p.norm_region as number) !== 0) throw unsupported(ctx, 'WITHIN_CHANNEL normalization');
  const size = toInt(p.local_size as number);
  if (size <= 0 || size % 2 === 0) throw structureError(ctx, `local_size must be odd and positive, got ${size}`);
  // Caffe's alpha applies to the mean of the squares over the window; the graph's to their sum.
  return node(ctx, 'lrn', { size, alpha: Number(p.alpha) / size, beta: Number(p.beta), k: Number(p.k) });
}

function batchNorm(ctx: LayerContext): GraphNode {
  const p = param(ctx, 'batch_norm_param');
  expectBlobCount(ctx, 3, 'mean, variance and scale factor');
  const channels = sizeOf(blob(ctx, 0).shape);
  return node(
    ctx,
    'batchnorm',
    { eps: Number(p.eps), scale: false, center: false },
    {
      mean: vectorBlob(ctx, 0, channels, 'mean'),
      variance: vectorBlob(ctx, 1, channels, 'variance'),
      scaleFactor: vectorBlob(ctx, 2, 1, 'scale factor'),
    },
  );
}

function scale(ctx: LayerContext): GraphNode {
  if (ctx.inputs.length !== 1) throw unsupported(ctx, 'a Scale with its factor as a second bottom');
  const p = param(ctx, 'scale_param');
  expectAxisOne(ctx, p);
  if (toInt(p.num_axes as number) !== 1) throw unsupported(ctx, `num_axes ${toInt(p.num_axes as number)} (only per-channel scaling is supported)`);
  const bias = Boolean(p.bias_term);
  expectBlobCount(ctx, bias ? 2 : 1, bias ? 'scale and bias' : 'scale; bias_term is false');
  const channels = sizeOf(blob(ctx, 0).shape);
  const params: Record<string, string> = { gamma: vectorBlob(ctx, 0, channels, 'scale') };
  if (bias) params.beta = vectorBlob(ctx, 1, channels, 'bias');
  return node(ctx, 'scale', { bias }, params);
}

function concat(ctx: LayerContext): GraphNode {
  const p = param(ctx, 'concat_param');
  // concat_dim is the older spelling; `axis` wins when both are written.
  const axis = isSet(p, 'concat_dim') && !isSet(p, 'axis') ? toInt(p.concat_dim as number) : toInt(p.axis as number);
  return node(ctx, 'concat', { axis });
}

function eltwise(ctx: LayerContext): GraphNode {
  const p = param(ctx, 'eltwise_param');
  const operation = (['prod', 'sum', 'max'] as const)[toInt(p.operation as number)];
  if (!operation) throw structureError(ctx, `unknown operation ${String(p.operation)}`);
  const coeff = (p.coeff as number[] | undefined) ?? [];
  if (coeff.length > 0) {
    if (operation !== 'sum') throw structureError(ctx, 'coeff is only allowed with SUM');
    if (coeff.length !== ctx.inputs.length) throw structureError(ctx, `${coeff.length} coeff values for ${ctx.inputs.length} bottoms`);
    return node(ctx, 'eltwise', { operation, coeffs: coeff.map(Number) });
  }
  return node(ctx, 'eltwise', { operation });
}

function flatten(ctx: LayerContext): GraphNode {
  const p = param(ctx, 'flatten_param');
  const endAxis = toInt(p.end_axis as number);
  if (endAxis !== -1) throw unsupported(ctx, `end_axis ${endAxis} (only flattening to the last axis is supported)`);
  return node(ctx, 'flatten', { axis: toInt(p.axis as number) });
}
