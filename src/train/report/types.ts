/**
 * One line of the training log: Chainer's LogReport record for one epoch, keyed exactly as Chainer keys
 * it, so tools written for Chainer logs (`pandas.DataFrame(json.load(f))`) read graft's unchanged.
 */
export interface EpochRecord {
  epoch: number;
  /** Batches (parameter updates) done since the start of training, not of this epoch. */
  iteration: number;
  'main/loss': number;
  'main/accuracy': number;
  /** Absent when no validation ran for this epoch, as in Chainer when no Evaluator is attached. */
  'validation/main/loss'?: number;
  'validation/main/accuracy'?: number;
  /** Seconds since training started (across a --resume, since the first start). */
  elapsed_time: number;
  /** Further observations (a learning rate, say) are kept, written and read back like Chainer's. */
  [observation: string]: number | undefined;
}

/** The two curves each plot shows, and the record keys they come from. */
export type CurveKey = 'loss' | 'accuracy';
export const trainKey = (key: CurveKey) => `main/${key}` as const;
export const validationKey = (key: CurveKey) => `validation/main/${key}` as const;
