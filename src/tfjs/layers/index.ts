/**
 * graft's custom tfjs layers. Importing this module registers nothing: call registerGraftLayers()
 * before tf.loadLayersModel / tf.models.modelFromJSON reads a model that uses them.
 */
import * as tf from '@tensorflow/tfjs';
import { GraftGroupedConv2D } from './grouped-conv2d.js';
import { GraftLRN } from './lrn.js';
import { GraftPooling2D } from './pooling.js';
import { GraftScale } from './scale.js';
import { GraftWeightedSum } from './weighted-sum.js';

export { GraftGroupedConv2D, type GroupedConv2DArgs } from './grouped-conv2d.js';
export { GraftLRN, type LrnArgs } from './lrn.js';
export {
  GraftPooling2D,
  type PoolingArgs,
  type PoolMode,
  type PoolRounding,
  type AvgDivisor,
  pooledLength,
  divisorsAlongAxis,
} from './pooling.js';
export { GraftScale, type ScaleArgs } from './scale.js';
export { GraftWeightedSum, type WeightedSumArgs } from './weighted-sum.js';
export type { Initializer, InitializerArg } from './common.js';

export const GRAFT_LAYER_CLASSES = [GraftGroupedConv2D, GraftLRN, GraftPooling2D, GraftScale, GraftWeightedSum] as const;

/** Registers every graft layer class with tfjs's serialization registry. Safe to call repeatedly. */
export function registerGraftLayers(): void {
  const registered = tf.serialization.SerializationMap.getMap().classNameMap;
  for (const cls of GRAFT_LAYER_CLASSES) {
    if (registered[cls.className]?.[0] !== cls) tf.serialization.registerClass(cls);
  }
}
