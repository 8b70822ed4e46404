/**
 * graft.json: what a model directory came from and how to feed it. It sits beside model.json and
 * is the contract for `graft predict`, `graft finetune` and web apps.
 */
import type { InputConvention, SourceFormat } from '../formats/source.js';

export const GRAFT_VERSION = '0.1.0';

export interface GraftJson {
  /** graft version that wrote the directory. */
  graft: string;
  format: SourceFormat | 'graft';
  source: {
    path: string;
    sha256: string;
    bytes: number;
    /** Caffe: the deploy.prototxt the structure came from, when one was given. */
    structure?: { path: string; sha256: string };
  };
  input: {
    /** Input name in the source. */
    name: string;
    /** Shape in the source's layout, batch first (NCHW for images). */
    shape: number[];
    /** 'NCHW' sources become NHWC models: the tfjs input is [N, H, W, C]. */
    sourceLayout: 'NCHW' | 'NC';
    modelLayout: 'NHWC' | 'NC';
  } & InputConvention;
  outputs: string[];
  /** Source blob / value name → tfjs layer that produces it (for `predict --layer`). */
  layers: Record<string, string>;
  /** Source tensor key → the tfjs weights made from it. */
  weights: Record<string, string[]>;
  /** How the shards store weights ('float16': tfjs float16 quantization, widened on load). */
  weightsDtype?: 'float32' | 'float16';
  classNames?: string[];
  /** Set by graft finetune/train: what the weights were trained on and how. */
  training?: {
    from?: string;
    data?: string;
    epoch?: number;
    metrics?: Record<string, number | undefined>;
    [key: string]: unknown;
  };
  warnings: string[];
}
