/**
 * The backends `--backend` accepts, in a module of its own so that the CLI can list them without
 * loading tfjs (src/tfjs/backend.ts selects them).
 */
export const BACKEND_NAMES = ['auto', 'wasm', 'cpu', 'webgpu', 'tensorflow', 'tensorflow-gpu'] as const;

export type BackendName = (typeof BACKEND_NAMES)[number];

/** The help text of `--backend`. */
export const BACKEND_HELP = 'Compute backend (auto: tfjs-node-gpu, else WebGPU on a hardware GPU, else tfjs-node, else wasm)';
