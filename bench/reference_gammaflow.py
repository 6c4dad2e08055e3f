"""gamma_flow's transform (gamma_flow-spec.md D1 steps 2-6), timed.

usage: reference_gammaflow.py LOADINGS.npy SPECTRA.npy

Per spectrum, as tools/tools_model.py and tools/util.py do it:
s = scipy.optimize.nnls(L.T[min_channel:], x[min_channel:]); s_norm =
s / sum |s|; x_hat = s . L (all channels); cosine similarity of the
mean-centred x and x_hat.  Prints microseconds per spectrum (PY_US).
"""
import sys
import time

import numpy as np
from scipy.optimize import nnls

MIN_CHANNEL = 7


def cosine_similarity(a, b):
    a = a - a.mean()
    b = b - b.mean()
    return float(a @ b / (np.linalg.norm(a) * np.linalg.norm(b)))


def transform(L, x):
    s, _ = nnls(L.T[MIN_CHANNEL:, :], x[MIN_CHANNEL:])
    s_norm = s / np.sum(np.abs(s))
    x_hat = s @ L
    return s_norm, cosine_similarity(x, x_hat)


def main():
    L = np.load(sys.argv[1])
    Y = np.load(sys.argv[2])
    best = float("inf")
    for _ in range(3):
        t0 = time.perf_counter()
        for x in Y:
            transform(L, x)
        best = min(best, (time.perf_counter() - t0) / Y.shape[0])
    print("reference gamma_flow transform (Python/scipy nnls + cosine): "
          "%8.3f us/spectrum" % (1e6 * best))
    print("PY_US %.6f" % (1e6 * best))


if __name__ == "__main__":
    main()
