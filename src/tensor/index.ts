export * from './dtype.js';
export * from './float16.js';
export * from './tensor.js';
export * from './layout.js';
