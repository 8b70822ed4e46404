/**
 * Shared by the server and the browser page (pure code: no tfjs, no Node). The page reads a model
 * the way `graft predict` does, with the same modules: src/input/input-spec.ts (input spec,
 * probabilities, top-k, labels) and src/input/preprocess.ts (pixels → input).
 */
export { inputSpecFromShape, parseLabels, toProbabilities, topK, type Ranked } from '../input/input-spec.js';

/** GET /api/config: what the page needs besides the model directory. */
export interface PageConfig {
  /** The model directory's name and absolute path. */
  name: string;
  dir: string;
  /** Class names from --labels (else the page uses graft.json's classNames). */
  labels: string[] | null;
  labelsFile: string | null;
  /** How many classes the page lists. */
  top: number;
  /** What the server found wrong with the directory (missing shards...), for the page's error. */
  problems: string[];
}
