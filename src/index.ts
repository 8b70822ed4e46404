/**
 * graft as a library: read a source model, build its tfjs model with the weights injected, write
 * or load model directories, run predictions, fine-tune, evaluate, serve the browser page. The CLI
 * (src/cli) is a thin layer over these.
 */
export { GraftError, FormatError, UnsupportedError, UsageError } from './errors.js';
export * from './tensor/index.js';
export type { Graph, GraphNode, GraphInput, Op } from './graph/graph.js';
export type { SourceModel, FormatReader, InputConvention, SourceFormat } from './formats/source.js';
export { READERS, pickReader } from './formats/registry.js';
export { readCaffeModel, caffeReader } from './formats/caffe/reader.js';
export { readPyTorchFile, pytorchReader } from './formats/pytorch/reader.js';
export { readChainerNpz, chainerReader } from './formats/chainer/reader.js';
export { readNpy, writeNpy } from './formats/npy/npy.js';
export { recognizeArchitecture, architectures, type Architecture } from './graph/architectures/index.js';
export { buildModel, type BuiltModel, type BuildOptions } from './tfjs/builder.js';
export { convertModel, type ConvertOptions, type ConvertSummary } from './tfjs/convert.js';
export { writeModelDirectory, loadModelDirectory, type LoadedModel } from './tfjs/model-dir.js';
export { predictImages, predictArray, inputSpecFor } from './tfjs/predict.js';
export { inspectPath } from './tfjs/inspect.js';
export { useBackend, backendInfo, describeBackend, type BackendName, type BackendInfo } from './tfjs/backend.js';
export type { GraftJson } from './tfjs/graft-json.js';
export { registerGraftLayers, GRAFT_LAYER_CLASSES } from './tfjs/layers/index.js';
export { imageToInput, type InputSpec, type Pixels } from './input/preprocess.js';
export { trainModel, type TrainOptions, type TrainSummary } from './train/finetune.js';
export { evaluateModel, type EvaluateOptions, type Evaluation } from './train/evaluate.js';
export { startServer, type ServeOptions, type RunningServer } from './serve/server.js';
