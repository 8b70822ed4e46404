/**
 * Where a Chainer model's arrays live in an .npz. `save_npz(path, obj)` names each array by its
 * link path inside `obj` (chainer/serializers/npz.py, DictionarySerializer), so the same chain
 * appears under different prefixes depending on what was saved:
 *   the chain itself            conv1/W
 *   L.Classifier(chain)         predictor/conv1/W
 *   a Trainer (extensions.snapshot)
 *                               updater/model:main/predictor/conv1/W, beside the optimizer's
 *                               state (updater/optimizer:main/...), the iterator's, triggers', ...
 */
import { UnsupportedError } from '../../errors.js';

export interface KeyLayout {
  /** Prefix every model key carries in the file ('' for a bare chain). */
  prefix: string;
  /** What the prefix means, for the warning; undefined for a bare chain. */
  description?: string;
}

const SNAPSHOT_MODEL = /^updater\/model:([^/]+)\//;
const CLASSIFIER = 'predictor/';

/** The prefix of the model's keys among `keys` (array names without `.npy`). */
export function modelKeyLayout(keys: readonly string[], file: string): KeyLayout {
  const models = new Set<string>();
  for (const key of keys) {
    const match = SNAPSHOT_MODEL.exec(key);
    if (match) models.add(match[0]);
  }
  let root = '';
  let what = '';
  if (models.size > 0) {
    // StandardUpdater names its (only) model 'main'; GAN-style updaters hold several.
    if (models.has('updater/model:main/')) root = 'updater/model:main/';
    else if (models.size === 1) root = [...models][0];
    else {
      throw new UnsupportedError(
        `${file}: this trainer snapshot holds several models (${[...models].join(', ')}); save the one to convert with chainer.serializers.save_npz(path, model)`,
      );
    }
    what = 'trainer snapshot';
  }
  const inRoot = keys.filter((key) => key.startsWith(root));
  // L.Classifier has no parameters of its own: every key of a wrapped chain is under predictor/.
  if (inRoot.length > 0 && inRoot.every((key) => key.startsWith(root + CLASSIFIER))) {
    root += CLASSIFIER;
    what = what ? `${what} of an L.Classifier` : 'L.Classifier';
  }
  return root ? { prefix: root, description: what } : { prefix: '' };
}

/**
 * Groups keys outside the model for a one-line summary: `updater/optimizer:main/ (90)`. Keys under
 * `updater/` group by their second level (the optimizer, the iterator), others by their first.
 */
export function summarizeIgnored(keys: readonly string[]): string {
  const groups = new Map<string, number>();
  for (const key of keys) {
    const parts = key.split('/');
    const depth = parts[0] === 'updater' ? 2 : 1;
    const group = parts.length > depth ? `${parts.slice(0, depth).join('/')}/` : key;
    groups.set(group, (groups.get(group) ?? 0) + 1);
  }
  return [...groups].map(([group, count]) => (group.endsWith('/') ? `${group} (${count})` : group)).join(', ');
}

/**
 * BatchNormalization's `N` counts the batches seen, used only to average statistics while
 * fine-tuning (chainer/links/normalization/batch_normalization.py): not an inference weight.
 */
export function isBatchNormCounter(key: string, keys: ReadonlySet<string>): boolean {
  if (!key.endsWith('/N')) return false;
  const link = key.slice(0, -2);
  return keys.has(`${link}/avg_mean`) && keys.has(`${link}/avg_var`);
}
