// bench/compare.sh's featurize peer: ONNX Runtime's Node.js binding runs the featurizer graph the stage runs on the
// stage's own preprocessed tensors, batch by batch, with the same intra-op threads. Inference only: no decoding or
// writing. Prints {"images": N, "images_per_second": R} on stdout.
// Usage: node peer.js <featurizer.onnx> <inputs.f32> <input size> <batch size> <threads>
'use strict';
const fs = require('fs');
const ort = require('onnxruntime-node');

async function main() {
  const [model, inputs, sizeText, batchText, threadsText] = process.argv.slice(2);
  if (!threadsText) throw new Error('usage: node peer.js <featurizer.onnx> <inputs.f32> <input size> <batch size> <threads>');
  const size = Number(sizeText), batch = Number(batchText), threads = Number(threadsText);
  const bytes = fs.readFileSync(inputs);
  const all = new Float32Array(bytes.buffer, bytes.byteOffset, bytes.byteLength / 4);
  const perImage = 3 * size * size;
  const images = all.length / perImage;
  if (!Number.isInteger(images)) throw new Error(`${inputs}: ${all.length} floats is not a whole number of 3×${size}×${size} images`);
  const session = await ort.InferenceSession.create(model, { intraOpNumThreads: threads, interOpNumThreads: 1, graphOptimizationLevel: 'all' });
  const [input] = session.inputNames, [output] = session.outputNames;
  const run = (start) => {
    const count = Math.min(batch, images - start);
    return session.run({ [input]: new ort.Tensor('float32', all.subarray(start * perImage, (start + count) * perImage), [count, 3, size, size]) }, [output]);
  };
  await run(0); // warm-up: the first run allocates
  const begin = process.hrtime.bigint();
  for (let start = 0; start < images; start += batch) await run(start);
  const seconds = Number(process.hrtime.bigint() - begin) / 1e9;
  console.log(JSON.stringify({ images, images_per_second: Math.round(images / seconds) }));
}
main().catch((e) => { console.error(`featurize peer: ${e.message}`); process.exit(1); });
