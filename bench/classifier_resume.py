#!/usr/bin/python3
"""Resuming a classifier saved without its training state (a bundled one: zero Adam moments).

    SPCNN_LIBRARY=build/lib/libspatialpixelcnn.so.0 /usr/bin/python3 bench/classifier_resume.py \
        [models/lenet-mnist.spcls] [data/mnist]

Trains it on for 300 steps (batches of 128 training digits drawn from seed 1) and prints the
loss of the batch before each step (the raw weights) and the accuracy on the 5 000 validation
digits that `spcnn classifier train` holds out, at steps 0, 1, 10, 58, 150 and 300. Needs
numpy (python3-numpy). docs/benchmarks.md, "Resuming from an EMA-only file".
"""
import os
import sys

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "bindings",
                                "python"))
import spatialpixelcnn as sp  # noqa: E402

model = sys.argv[1] if len(sys.argv) > 1 else "models/lenet-mnist.spcls"
data = sys.argv[2] if len(sys.argv) > 2 else "data/mnist"
x = sp.read_idx(os.path.join(data, "train-images-idx3-ubyte"))
y = sp.read_idx(os.path.join(data, "train-labels-idx1-ubyte")).reshape(-1)
n_train = len(x) - 5000
xt, yt, xv, yv = x[:n_train], y[:n_train], x[n_train:], y[n_train:]


def accuracy(c):
    return float((c.predict(xv).argmax(1) == yv).mean() * 100)


c = sp.Classifier.load(model)
rng = np.random.default_rng(1)
print("step 0: validation accuracy %.2f %%" % accuracy(c), flush=True)
for step in range(1, 301):
    batch = rng.choice(n_train, 128, replace=False)
    r = c.train_step(xt[batch], yt[batch])
    if step in (1, 10, 58, 150, 300):
        print("step %d: batch loss %.4f, validation accuracy %.2f %%"
              % (step, r["loss"], accuracy(c)), flush=True)
