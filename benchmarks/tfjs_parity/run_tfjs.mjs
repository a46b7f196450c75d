/*
 * TensorFlow.js reference runner for the graph-model parity benchmark.
 *
 * BENCHMARK-ONLY TOOL: it is never a wildfer dependency. wildfer's Python loader turns TF.js graph models
 * (model.json + .bin weight shards) into PyTorch modules; this script runs the same files in the original
 * runtime (@tensorflow/tfjs, pure JS, pinned in package.json) so benchmarks/bench_backbone_parity.py can
 * compare the two.
 *
 * Install (Node >= 18, npm registry only; no native binary is downloaded):
 *     cd benchmarks/tfjs_parity && npm ci
 *
 * Run:
 *     node run_tfjs.mjs --model /path/to/model.json --input in.f32 --shape N,H,W,C \
 *         [--outputs name1,name2] --out OUTDIR [--backend cpu|wasm] [--runs R] [--free-hw]
 *
 *   --input    raw float32 little-endian values in NHWC order, exactly prod(shape) of them (no header).
 *   --outputs  graph node names such as `global_pooling/Mean` (":0" is optional, ":k" picks output k),
 *              or keys of the model's top-level `signature.outputs`; default: the graph's own outputs.
 *   --backend  cpu (default; TF.js's pure-JS kernels) or wasm (XNNPACK kernels, one thread in Node).
 *   --runs     timed runs after one untimed warm-up run (default 3); the outputs are the last run's.
 *   --free-hw  set the input placeholder's H and W to unknown (-1), so a fully convolutional net runs at a
 *              size other than the one it was exported with (TF.js otherwise rejects the input shape).
 *              Only graphs that pool before any constant-shape Reshape survive it: mobileface (flatten by
 *              Reshape) fails at 96x96 with TF.js's own one-line error; faceres-deep up to its Mean works.
 *
 * Writes OUTDIR/<i>.f32 (raw float32 little-endian, C order) for the i-th requested output and
 * OUTDIR/outputs.json = {"backend", "tfjs_version", "input_shape", "run_ms": [...],
 * "outputs": [{"name", "shape", "dtype", "file"}]} (dtype is the TF.js dtype; int32/bool outputs are
 * written converted to float32). Prints the backend and the time of each run. A usage or input mistake
 * prints one line `run_tfjs: error: ...` and exits 1.
 */
import fs from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';

import * as tf from '@tensorflow/tfjs';

class UsageError extends Error {}

function fail(message) {
  console.error(`run_tfjs: error: ${message}`);
  process.exit(1);
}

function readFile(file, what) {
  try {
    return fs.readFileSync(file);
  } catch (err) {
    throw new UsageError(`cannot read ${what} ${file}: ${err.code || err.message}`);
  }
}

function parseCli() {
  let values;
  try {
    ({ values } = parseArgs({
      options: {
        model: { type: 'string' },
        input: { type: 'string' },
        shape: { type: 'string' },
        outputs: { type: 'string' },
        out: { type: 'string' },
        backend: { type: 'string', default: 'cpu' },
        runs: { type: 'string', default: '3' },
        'free-hw': { type: 'boolean', default: false },
      },
      strict: true,
    }));
  } catch (err) {
    throw new UsageError(err.message);
  }
  for (const key of ['model', 'input', 'shape', 'out']) {
    if (!values[key]) throw new UsageError(`--${key} is required`);
  }
  const shape = values.shape.split(',').map(Number);
  if (shape.length !== 4 || !shape.every((d) => Number.isInteger(d) && d > 0)) {
    throw new UsageError(`--shape must be four positive integers N,H,W,C, got ${values.shape}`);
  }
  const runs = Number(values.runs);
  if (!Number.isInteger(runs) || runs < 1) throw new UsageError(`--runs must be >= 1, got ${values.runs}`);
  if (!['cpu', 'wasm'].includes(values.backend)) {
    throw new UsageError(`--backend must be cpu or wasm, got ${values.backend}`);
  }
  const outputs = values.outputs ? values.outputs.split(',').filter((s) => s) : [];
  return { ...values, shape, runs, outputs };
}

/** Reads model.json and, in manifest order, every weight shard it names (paths relative to model.json). */
function loadModelJSON(modelPath, freeHW) {
  let modelJSON;
  try {
    modelJSON = JSON.parse(readFile(modelPath, 'model').toString('utf8'));
  } catch (err) {
    if (err instanceof UsageError) throw err;
    throw new UsageError(`${modelPath} is not JSON: ${err.message}`);
  }
  if (!modelJSON.modelTopology || !Array.isArray(modelJSON.weightsManifest)) {
    throw new UsageError(`${modelPath} has no modelTopology/weightsManifest (not a TF.js graph model)`);
  }
  if (freeHW) {
    // TF.js only uses a placeholder's shape to check the fed tensor; kernels take shapes from tensors.
    for (const node of modelJSON.modelTopology.node || []) {
      const dims = node.op === 'Placeholder' && node.attr?.shape?.shape?.dim;
      if (dims && dims.length === 4) { dims[1].size = '-1'; dims[2].size = '-1'; }
    }
  }
  const dir = path.dirname(modelPath);
  const handler = {
    load: () => tf.io.getModelArtifactsForJSON(modelJSON, async (manifest) => {
      const shards = manifest.flatMap((group) => group.paths).map((p) => {
        const bytes = readFile(path.join(dir, p), 'weight shard');
        return bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength);
      });
      return [tf.io.getWeightSpecs(manifest), shards];
    }),
  };
  return { modelJSON, handler };
}

/** Checks each requested output against the graph's node names and signature keys, before running. */
function checkOutputNames(modelJSON, outputs, modelPath) {
  const nodes = new Set((modelJSON.modelTopology.node || []).map((n) => n.name));
  const signature = new Set(Object.keys(modelJSON.signature?.outputs || {}));
  for (const name of outputs) {
    if (signature.has(name)) continue;
    const base = name.replace(/:\d+$/, '');
    if (!nodes.has(base)) throw new UsageError(`output '${name}' is not a node of ${modelPath}`);
  }
}

/** Checks the fed shape against the graph's single NHWC placeholder, which TF.js would reject at run time. */
function checkInputShape(modelJSON, shape, modelPath) {
  const placeholders = (modelJSON.modelTopology.node || []).filter((n) => n.op === 'Placeholder');
  if (placeholders.length !== 1) {
    throw new UsageError(`${modelPath} has ${placeholders.length} inputs; this runner feeds exactly one`);
  }
  const dims = (placeholders[0].attr?.shape?.shape?.dim || []).map((d) => Number(d.size));
  if (dims.length && (dims.length !== 4 || dims.some((d, i) => d !== -1 && d !== shape[i]))) {
    throw new UsageError(`--shape ${shape.join(',')} does not fit input ${placeholders[0].name} [${dims.join(',')}] `
      + `of ${modelPath} (--free-hw frees H and W for a fully convolutional net)`);
  }
}

function readInput(file, shape) {
  const bytes = readFile(file, 'input');
  const count = shape.reduce((a, b) => a * b, 1);
  if (bytes.byteLength !== count * 4) {
    throw new UsageError(`${file} holds ${bytes.byteLength} bytes, shape ${shape.join(',')} needs ${count * 4}`);
  }
  // Copy: a Float32Array view needs 4-byte alignment, which a Node Buffer does not promise.
  const data = new Float32Array(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength));
  return tf.tensor(data, shape, 'float32');
}

async function selectBackend(name) {
  if (name === 'wasm') {
    // Registers the backend; in Node it always loads the single-threaded (SIMD) binary from its own
    // dist/ folder, since TF.js reports no multithread support there (tfjs issue #3830).
    await import('@tensorflow/tfjs-backend-wasm');
  }
  if (!(await tf.setBackend(name))) throw new UsageError(`backend ${name} failed to initialise`);
  await tf.ready();
  if (name !== 'wasm') return tf.getBackend();
  const simd = await tf.env().getAsync('WASM_HAS_SIMD_SUPPORT');
  return `wasm (${simd ? 'simd' : 'no simd'}, threads 1)`;
}

async function main() {
  const args = parseCli();
  const { modelJSON, handler } = loadModelJSON(args.model, args['free-hw']);
  checkInputShape(modelJSON, args.shape, args.model);
  if (args.outputs.length) checkOutputNames(modelJSON, args.outputs, args.model);
  const backend = await selectBackend(args.backend);
  const model = await tf.loadGraphModel(handler);
  const outputNames = args.outputs.length ? args.outputs : model.outputs.map((o) => o.name);
  const input = readInput(args.input, args.shape);
  console.log(`backend: ${backend} (tfjs ${tf.version.tfjs}), model: ${args.model}, input: ${args.shape.join('x')}`);

  const runOnce = async () => {
    const start = process.hrtime.bigint();
    // Clones, so that disposing a result never frees the input or a weight (a Const node asked for as an
    // output is the weight tensor itself); tidy frees the originals.
    const result = tf.tidy(() => {
      const tensors = [].concat(model.execute(input, outputNames));
      const missing = outputNames.filter((_, i) => !tensors[i]);
      if (missing.length) throw new UsageError(`the graph produced no tensor for ${missing.join(', ')} (output index too high?)`);
      return tensors.map((t) => t.clone());
    });
    const values = await Promise.all(result.map((t) => t.data())); // data() waits for the kernels
    const ms = Number(process.hrtime.bigint() - start) / 1e6;
    return { result, values, ms };
  };
  const dispose = (run) => run.result.forEach((t) => t.dispose());

  const warm = await runOnce();
  console.log(`warm-up run: ${warm.ms.toFixed(1)} ms`);
  dispose(warm);
  const runMs = [];
  let last;
  for (let i = 0; i < args.runs; i += 1) {
    if (last) dispose(last);
    last = await runOnce();
    runMs.push(last.ms);
    console.log(`run ${i + 1}: ${last.ms.toFixed(1)} ms (batch ${args.shape[0]})`);
  }
  const sorted = [...runMs].sort((a, b) => a - b);
  console.log(`median: ${sorted[Math.floor(sorted.length / 2)].toFixed(1)} ms per batch of ${args.shape[0]}`);

  fs.mkdirSync(args.out, { recursive: true });
  const outputs = last.result.map((t, i) => {
    const file = `${i}.f32`;
    const f32 = Float32Array.from(last.values[i]);
    fs.writeFileSync(path.join(args.out, file), Buffer.from(f32.buffer));
    return { name: outputNames[i], shape: t.shape, dtype: t.dtype, file };
  });
  const summary = {
    backend, tfjs_version: tf.version.tfjs, input_shape: args.shape, run_ms: runMs, outputs,
  };
  fs.writeFileSync(path.join(args.out, 'outputs.json'), `${JSON.stringify(summary, null, 2)}\n`);
  for (const o of outputs) console.log(`output ${o.file}: ${o.name} ${o.dtype} [${o.shape.join(',')}]`);
}

main().catch((err) => {
  // Errors from TF.js itself (unsupported op, a Reshape that does not fit) are also reported on one line.
  fail(err instanceof UsageError ? err.message : `${err.message}`.split('\n')[0]);
});
