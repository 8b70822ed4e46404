/**
 * Helpers shared by graft's custom layers. Browser-safe: only '@tensorflow/tfjs' and graft's own
 * error classes.
 */
import * as tf from '@tensorflow/tfjs';
import { GraftError, UnsupportedError } from '../../errors.js';

/** The constructor argument type of tf.layers.Layer (tfjs does not export `LayerArgs` by name). */
export type LayerArgs = NonNullable<ConstructorParameters<typeof tf.layers.Layer>[0]>;
/** The second argument of Layer.call (tfjs does not export `Kwargs` by name). */
export type Kwargs = Parameters<tf.layers.Layer['call']>[1];
/** tfjs's Initializer base class is not exported by name; every built-in initializer is one. */
export type Initializer = ReturnType<typeof tf.initializers.glorotUniform>;

/** An initializer as an instance, or in the `{className, config}` form a model.json holds. */
export type InitializerArg = Initializer | { className: string; config: tf.serialization.ConfigDict };

/** [height, width] */
export type Pair = [number, number];

/** `n` → [n, n]; a pair is checked to be two positive or zero integers as `what` requires. */
export function toPair(value: number | readonly number[], what: string, layer: string, min = 1): Pair {
  const pair: number[] = typeof value === 'number' ? [value, value] : [...value];
  if (pair.length !== 2 || !pair.every((v) => Number.isInteger(v) && v >= min)) {
    throw new GraftError(`${layer}: ${what} must be an integer ≥ ${min} or a pair of them, got ${JSON.stringify(value)}`);
  }
  return [pair[0], pair[1]];
}

function isInitializer(value: unknown): value is Initializer {
  return (
    typeof value === 'object' &&
    value !== null &&
    typeof (value as Initializer).apply === 'function' &&
    typeof (value as Initializer).getClassName === 'function'
  );
}

/**
 * An Initializer instance is used as is (a builder's own, injecting pretrained values); the
 * `{className, config}` form comes from a model.json and is rebuilt through tfjs's registry.
 */
export function resolveInitializer(arg: InitializerArg | undefined, fallback: () => Initializer, layer: string): Initializer {
  if (arg === undefined || arg === null) return fallback();
  if (isInitializer(arg)) return arg;
  const entry = tf.serialization.SerializationMap.getMap().classNameMap[arg.className];
  if (entry === undefined) throw new UnsupportedError(`${layer}: unknown initializer class '${arg.className}'`);
  const [cls, fromConfig] = entry;
  const made = fromConfig(cls, arg.config ?? {});
  if (!isInitializer(made)) throw new GraftError(`${layer}: '${arg.className}' is not an initializer`);
  return made;
}

/**
 * The `{className, config}` form for getConfig. An initializer whose class tfjs's registry cannot
 * rebuild (typically a builder's one-off that carries pretrained values: those belong in the
 * weights file, not in model.json) is recorded as the layer's default instead, so the topology
 * still loads; the initializer only matters before weights are set anyway.
 */
export function serializeInitializer(init: Initializer, fallback: () => Initializer): tf.serialization.ConfigDict {
  const className = init.getClassName();
  const entry = className ? tf.serialization.SerializationMap.getMap().classNameMap[className] : undefined;
  const chosen = entry !== undefined && init instanceof entry[0] ? init : fallback();
  return { className: chosen.getClassName(), config: chosen.getConfig() };
}

/** A layer's single input, whether tfjs hands it over bare or in a one-element list. */
export function onlyOne<T>(inputs: T | T[], layer: string): T {
  if (!Array.isArray(inputs)) return inputs;
  if (inputs.length !== 1) throw new GraftError(`${layer}: expects one input, got ${inputs.length}`);
  return inputs[0];
}

/** Shape for a single-input layer (tfjs passes Shape or Shape[] to build/computeOutputShape). */
export function onlyShape(shape: tf.Shape | tf.Shape[], layer: string): tf.Shape {
  if (shape.length > 0 && Array.isArray(shape[0])) return onlyOne(shape as tf.Shape[], layer);
  return shape as tf.Shape;
}

/** The last axis's size, which must be known to create per-channel weights. */
export function channelsOf(shape: tf.Shape, layer: string): number {
  const channels = shape[shape.length - 1];
  if (channels === null || channels === undefined || channels <= 0) {
    throw new GraftError(`${layer}: the channel (last) axis must have a known size, got shape ${JSON.stringify(shape)}`);
  }
  return channels;
}
