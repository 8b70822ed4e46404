/**
 * Every built-in architecture, registered on import. A new family is one module that exports an
 * Architecture[] and one line here.
 */
import { registerArchitectures } from './registry.js';
import './chainer/index.js';
import './torchvision/index.js';

registerArchitectures();

export * from './registry.js';
export * from './builder.js';
