import { Random } from '../random.js';

/**
 * Splits example indices into train and validation sets, per class, so both keep the class
 * proportions: the sources' files are sorted by class (both XOR files, any folder listing), and a
 * split of the last rows (what Keras's validationSplit does) would validate on one class.
 */
export function stratifiedSplit(labels: ArrayLike<number>, validationFraction: number, seed: number): { train: number[]; validation: number[] } {
  if (!(validationFraction >= 0 && validationFraction < 1)) throw new RangeError(`validation fraction ${validationFraction} is not in [0, 1)`);
  const random = new Random(seed);
  const byClass = new Map<number, number[]>();
  for (let i = 0; i < labels.length; i++) {
    const list = byClass.get(labels[i]) ?? [];
    list.push(i);
    byClass.set(labels[i], list);
  }
  const train: number[] = [];
  const validation: number[] = [];
  for (const label of [...byClass.keys()].sort((a, b) => a - b)) {
    const indices = random.shuffle(byClass.get(label)!);
    const count = Math.round(indices.length * validationFraction);
    validation.push(...indices.slice(0, count));
    train.push(...indices.slice(count));
  }
  return { train: random.shuffle(train), validation: random.shuffle(validation) };
}
