"""Reference NNPU (gammabench-spec.md 3.2), transcribed from the spec.

usage: reference_nnpu.py LIBRARY_MATRIX.npy SPECTRA.npy GSPEC_COUNTS.txt

a0 = ones(N)/N; repeat a <- a * X^T (y / X a) while niter < 1000 and
mean(|a_new - a| / (a + 1e-10)) > 1e-6.  Times it per spectrum on one
thread and compares with gspec's counts.
"""
import sys
import time

import numpy as np


def nnpu(y, X, niter_max=1000, tol=1e-6):
    N = X.shape[1]
    a = np.ones(N) / N
    it, err = 0, 1.0
    while it < niter_max and err > tol:
        a_new = a * (X.T @ (y / (X @ a)))
        err = np.mean(np.abs(a_new - a) / (a + 1e-10))
        a = a_new
        it += 1
    return a


def main():
    X = np.load(sys.argv[1])
    Y = np.load(sys.argv[2])
    ours = np.loadtxt(sys.argv[3]).reshape(Y.shape[0], X.shape[1])
    t0 = time.perf_counter()
    A = np.array([nnpu(y, X) for y in Y])
    dt = (time.perf_counter() - t0) / Y.shape[0]
    tot = ours.sum(axis=1, keepdims=True)
    mask = ours > 0.01 * tot
    rel = np.abs(A - ours)[mask] / ours[mask]
    print("reference NNPU (Python/numpy):     %8.4f ms/spectrum" % (1e3 * dt))
    print("max relative count difference vs gspec (components > 1 %%): %.2e"
          % rel.max())
    print("PY_MS %.6f" % (1e3 * dt))


if __name__ == "__main__":
    main()
