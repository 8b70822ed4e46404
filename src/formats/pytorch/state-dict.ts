/**
 * Finding the weights in what torch.save was given: a state dict itself, or a training
 * checkpoint holding one under `state_dict`, `model`, `net`... (the ImageNet example, Lightning,
 * timm and most training scripts), with DataParallel's `module.` prefix removed. The rest of a
 * checkpoint is summarized in warnings, never read further. An inert object (a class graft does
 * not run) where the weights should be is refused with its class name.
 */
import { FormatError, UnsupportedError } from '../../errors.js';
import { PyDict, PyGlobalRef, PyInstance, pyTypeName } from './py-values.js';
import { TensorRef } from './torch-tensors.js';

export interface FoundWeights {
  /** State-dict key (prefix removed) → tensor, in file order. */
  entries: [string, TensorRef][];
  warnings: string[];
}

// Checkpoint keys that hold the model's weights, most specific first.
const WEIGHT_KEYS = ['state_dict', 'model_state_dict', 'model_state', 'model', 'net', 'network', 'module', 'weights', 'params', 'model_ema', 'state_dict_ema'];
// Prefixes wrappers add to every key: nn.DataParallel / DistributedDataParallel, torch.compile.
const WRAPPER_PREFIXES: [string, string][] = [
  ['module.', 'nn.DataParallel / DistributedDataParallel'],
  ['_orig_mod.', 'torch.compile'],
];
const MAX_DEPTH = 3;
const MAX_NOTES = 10;

interface Located {
  dict: PyDict;
  path: string[];
}

export function findWeights(root: unknown, file: string): FoundWeights {
  const warnings: string[] = [];
  if (root instanceof TensorRef) {
    warnings.push('the file holds a single tensor, listed as "tensor"');
    return { entries: [['tensor', root]], warnings };
  }
  if (Array.isArray(root) && root.length > 0 && root.every((item) => item instanceof TensorRef)) {
    warnings.push('the file holds a list of tensors, listed by index');
    return { entries: root.map((tensor, i) => [String(i), tensor as TensorRef]), warnings };
  }
  if (root instanceof PyInstance) throw refuseObject(root, file, []);
  if (!(root instanceof PyDict)) throw new FormatError(file, undefined, `holds a ${pyTypeName(root)}, not a state dict or a checkpoint dict`);

  const located = new WeightSearch(file).locate(root, [], 0);
  if (located.length === 0) {
    throw new FormatError(file, undefined, `no tensors found: the file holds a dict with keys ${describeKeys(root)}`);
  }
  const entries: [string, TensorRef][] = [];
  const skipped: string[] = [];
  const several = located.length > 1;
  for (const { dict, path } of located) {
    const prefix = several ? `${path.join('.')}.` : '';
    for (const [key, value] of dict) {
      if (value instanceof TensorRef && typeof key === 'string') entries.push([prefix + key, value]);
      else if (value instanceof PyInstance || value instanceof PyGlobalRef) throw refuseObject(value, file, [...path, String(key)]);
      else skipped.push(`${String(key)} (${pyTypeName(value)})`);
    }
  }
  if (several) warnings.push(`found several state dicts (${located.map((l) => quote(l.path)).join(', ')}); their keys are prefixed with the checkpoint key`);
  else if (located[0].path.length > 0) warnings.push(`found the weights under checkpoint key ${quote(located[0].path)}`);
  if (skipped.length > 0) warnings.push(`skipped non-tensor state dict entries: ${skipped.slice(0, MAX_NOTES).join(', ')}${skipped.length > MAX_NOTES ? ', …' : ''}`);
  if (!several) stripWrapperPrefixes(entries, warnings);
  if (located[0].path.length > 0) warnings.push(...checkpointNotes(root, located));
  return { entries, warnings };
}

/**
 * Depth-first search for state dicts. A pickle can share one dict many times or nest a dict in
 * itself (memo GET), so each dict is searched once and its classification is cached: the search
 * is linear in the pickle's size.
 */
class WeightSearch {
  private readonly visited = new Set<PyDict>();
  private readonly likeCache = new Map<PyDict, boolean>();

  constructor(private readonly file: string) {}

  locate(dict: PyDict, path: string[], depth: number): Located[] {
    this.visited.add(dict);
    for (const key of WEIGHT_KEYS) {
      const value = dict.get(key);
      if (value === undefined) continue;
      if (value instanceof PyInstance) throw refuseObject(value, this.file, [...path, key]);
      if (this.isStateDictLike(value)) return [{ dict: value as PyDict, path: [...path, key] }];
      if (value instanceof PyDict && depth < MAX_DEPTH && !this.visited.has(value)) {
        const inner = this.locate(value, [...path, key], depth + 1);
        if (inner.length > 0) return inner;
      }
    }
    if (this.isStateDictLike(dict)) return [{ dict, path }];
    const candidates: Located[] = [];
    for (const [key, value] of dict) {
      if (typeof key === 'string' && this.isStateDictLike(value)) candidates.push({ dict: value as PyDict, path: [...path, key] });
    }
    if (candidates.length > 0) return candidates;
    if (depth < MAX_DEPTH) {
      for (const [key, value] of dict) {
        if (typeof key !== 'string' || !(value instanceof PyDict) || isOptimizerKey(key) || this.visited.has(value)) continue;
        const inner = this.locate(value, [...path, key], depth + 1);
        if (inner.length > 0) return inner;
      }
    }
    // A dict with some tensors among other values: a state dict with extras.
    for (const value of dict.values()) if (value instanceof TensorRef) return [{ dict, path }];
    return [];
  }

  /** String keys, and at least as many tensors as other values. */
  isStateDictLike(value: unknown): boolean {
    if (!(value instanceof PyDict) || value.size === 0) return false;
    const cached = this.likeCache.get(value);
    if (cached !== undefined) return cached;
    let tensors = 0;
    let like = true;
    for (const [key, item] of value) {
      if (typeof key !== 'string') {
        like = false;
        break;
      }
      if (item instanceof TensorRef) tensors++;
    }
    like &&= tensors > 0 && tensors * 2 >= value.size;
    this.likeCache.set(value, like);
    return like;
  }
}

function isOptimizerKey(key: string): boolean {
  return /optim/i.test(key);
}

function stripWrapperPrefixes(entries: [string, TensorRef][], warnings: string[]): void {
  for (const [prefix, wrapper] of WRAPPER_PREFIXES) {
    let stripped = 0;
    while (entries.length > 0 && entries.every(([key]) => key.startsWith(prefix) && key.length > prefix.length)) {
      for (const entry of entries) entry[0] = entry[0].slice(prefix.length);
      stripped++;
    }
    if (stripped > 0) warnings.push(`removed the "${prefix}" prefix (${wrapper}) from every key${stripped > 1 ? ` (${stripped} times)` : ''}`);
  }
}

/** What else a checkpoint held, in a line or two: `epoch=3`, `args (argparse.Namespace, not run)`. */
function checkpointNotes(root: PyDict, located: Located[]): string[] {
  const used = new Set(located.map((l) => l.path[0]));
  const notes: string[] = [];
  const ignored: string[] = [];
  for (const [key, value] of root) {
    const name = String(key);
    if (used.has(name)) continue;
    if (isOptimizerKey(name)) ignored.push(name);
    else notes.push(describeValue(name, value));
  }
  const warnings: string[] = [];
  if (ignored.length > 0) warnings.push(`ignored optimizer state (${ignored.map((k) => `"${k}"`).join(', ')})`);
  if (notes.length > 0) warnings.push(`checkpoint also holds: ${notes.slice(0, MAX_NOTES).join(', ')}${notes.length > MAX_NOTES ? `, … (${notes.length} entries)` : ''}`);
  return warnings;
}

function describeValue(name: string, value: unknown): string {
  if (value === null) return `${name}=None`;
  if (typeof value === 'number' || typeof value === 'bigint' || typeof value === 'boolean') return `${name}=${String(value)}`;
  if (typeof value === 'string') return `${name}=${JSON.stringify(value.length > 40 ? `${value.slice(0, 40)}…` : value)}`;
  if (value instanceof TensorRef) return `${name} (tensor [${value.size.join(', ')}] ${value.type.torchName})`;
  if (value instanceof PyDict) return `${name} (${value.className} of ${value.size})`;
  if (Array.isArray(value)) return `${name} (${value.length} items)`;
  if (value instanceof PyInstance) return `${name} (${value.cls.qualifiedName}, kept inert)`;
  return `${name} (${pyTypeName(value)})`;
}

function refuseObject(value: PyInstance | PyGlobalRef, file: string, path: string[]): UnsupportedError {
  const cls = value instanceof PyInstance ? value.cls.qualifiedName : value.qualifiedName;
  const where = path.length === 0 ? 'the file holds' : `${quote(path)} is`;
  const state = value instanceof PyInstance ? value.state : undefined;
  const isModule = state instanceof PyDict && (state.has('_modules') || state.has('_parameters'));
  const hint = isModule
    ? ', a whole model saved with torch.save(model); graft reads state dicts: save model.state_dict() instead'
    : '; graft reads tensors and state dicts, and never runs classes from a pickle';
  return new UnsupportedError(`${file}: ${where} a pickled ${cls} object${hint}`);
}

function quote(path: string[]): string {
  return path.map((p) => `"${p}"`).join(' → ');
}

function describeKeys(dict: PyDict): string {
  const keys = [...dict.keys()].map((k) => String(k));
  return keys.length === 0 ? '(none)' : keys.slice(0, MAX_NOTES).join(', ') + (keys.length > MAX_NOTES ? ', …' : '');
}
