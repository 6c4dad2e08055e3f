"""Reference P-OMP and P-OMP with gain shift, transcribed from
gammabench-spec.md (sections 1.6, 3.1, 3.2, 3.3, 3.6).  numpy + scipy only;
run with Debian's /usr/bin/python3 (numpy 1.24, scipy 1.10).

usage:
  reference_pomp.py pomp LIB.npy Y.npy OUT.json [--alpha A] [--turn T] [--n N]
  reference_pomp.py drift LIB.npy Y.npy OUT.json --option 0|1 [--alpha A]
                    [--turn T] [--n N] [--literal]
  reference_pomp.py selftest DATA_DIR EXPORTER [--literal]
  reference_pomp.py compare GSPEC.json PY.json [--shift]

LIB.npy: channels x K float64, columns summing to 1, column 0 the
background.  Y.npy: n x channels counts.  pomp/drift fit every spectrum
(or the first N), write per spectrum {"Iden": sorted identified set
(background 0 included), "a": Alist[2], "n_fits": support fits} (drift adds
"shift": [gain, offset] of the last accepted step) and print
"PY_MS <ms per spectrum>".  compare prints "AGREE k/n" over the spectra
both files hold, the disagreeing indices and (--shift) the mean absolute
gain-shift difference.  --literal runs the authors' particle loop and
np.histogram instead of the vectorised, bit-identical forms (about 10x
slower P-OMP with gain shift).  selftest reproduces the two notebook examples of
../shared/data/gammabench/reference and prints PASS/FAIL lines.
"""
import json
import os
import subprocess
import sys
import tempfile
import time

import numpy as np
from scipy.optimize import minimize
from scipy.stats import chi2


# --------------------------------------------------------------------------
# 3.1 divergence, 3.2 NNPU

def divergence(X, y, a):
    xa = X.dot(a)
    return np.sum(xa - y * np.log(xa + 1e-16) + y * np.log(y + 1e-16) - y)


class Counter:
    """Number of support fits (NNPU or NNPU_drift calls inside the search)."""
    fits = 0


def nnpu(y, X, a0=None, estimed_aMVP=1, niter_max=1000, tol=1e-6):
    N = X.shape[1]
    a = np.ones(N) / N if a0 is None else a0.copy()
    it, err = 0, 1.0
    while it < niter_max and err > tol:
        a_new = a * X.T.dot(y / X.dot(a))
        it += 1
        if estimed_aMVP == 0:
            a_new[0] = a[0]
        err = np.mean(np.abs((a_new - a) / (a + 1e-10)))
        a = a_new.copy()
    return a


# --------------------------------------------------------------------------
# 3.3 P-OMP

def std_fisher(X, a):
    std = np.zeros(len(a))
    act = a > 0
    Xr = X[:, act]
    ar = a[act]
    n = Xr.shape[1]
    xa = Xr.dot(ar)
    F = np.zeros((n, n))
    for i in range(n):
        for j in range(n):
            F[i, j] = np.dot(Xr[:, i] * Xr[:, j], 1 / xa)
    std[act] = np.sqrt(np.diag(np.linalg.inv(F)))
    return std


def threshold(alpha, n):
    return chi2.ppf(1 - 2 * alpha / n, df=1)


def pomp_forward(y, X, I0, I, L0, alpha, max_ite, tol, losses, w):
    while len(I) != 0:
        DT = threshold(alpha, len(I))
        L = np.zeros(len(I))
        ws = []
        for i, c in enumerate(I):
            Xt = X[:, I0 + [c]]
            wt = nnpu(y, Xt, niter_max=max_ite, tol=tol)
            Counter.fits += 1
            ws.append(wt)
            L[i] = divergence(Xt, y, wt)
        j = int(np.argmin(L))
        losses.append(L[j])
        if -2 * (L[j] - L0) > DT:
            I0 = I0 + [I[j]]
            I.pop(j)
            L0 = L[j]
            w = ws[j]
        else:
            break
    return I0, I, L0, w, losses


def pomp_backward(y, X, I0, I, L0, alpha, max_ite, tol, turn, procedure, w):
    while len(I0) != 1:
        if turn == 2:
            DT = threshold(alpha, len(I) + 1)
        else:
            DT = threshold(1e-3, len(I) + 1)
        L = np.zeros(len(I0) - 1)
        for p in range(1, len(I0)):
            sup = I0[:p] + I0[p + 1:]
            Xt = X[:, sup]
            wt = nnpu(y, Xt, niter_max=max_ite, tol=tol)
            Counter.fits += 1
            L[p - 1] = divergence(Xt, y, wt)
        j = int(np.argmin(L)) + 1
        if 2 * (L[j - 1] - L0) < DT:
            I.append(I0[j])
            procedure.append(I0[j])
            I0 = I0[:j] + I0[j + 1:]
            L0 = L[j - 1]
            w = nnpu(y, X[:, I0])
        else:
            break
    return I0, I, L0, w, procedure


def pomp(y, X, alpha=0.05, max_ite=500, tol=1e-10, turn=1):
    N = X.shape[1]
    I0 = [0]
    I = list(range(1, N))
    w = nnpu(y, X[:, I0])
    L0 = divergence(X[:, I0], y, w)
    losses = [L0]
    alist = []

    def full(I0, w):
        a = np.zeros(N)
        a[I0] = w
        return a

    I0, I, L0, w, losses = pomp_forward(y, X, I0, I, L0, alpha, max_ite, tol,
                                        losses, w)
    procedure = list(I0)
    alist.append(full(I0, w))
    if turn > 1 and len(I0) > 2:
        I0, I, L0, w, procedure = pomp_backward(y, X, I0, I, L0, alpha,
                                                max_ite, tol, turn,
                                                procedure, w)
    alist.append(full(I0, w))
    if turn == 3 and len(procedure) != len(I0):
        losses = [L0]
        I0, I, L0, w, losses = pomp_forward(y, X, I0, I, L0, alpha, max_ite,
                                            tol, losses, w)
    alist.append(full(I0, w))
    std = np.zeros(N)
    std[I0] = std_fisher(X[:, I0], w)
    return {'a': alist[2], 'Iden': I0, 'Std': std, 'Procedure': procedure,
            'Alist': alist, 'LossList': losses}


# --------------------------------------------------------------------------
# 1.6 particle shift operator, 3.6 P-OMP with gain shift

def shift_func(E, al):
    return E * (1 - al[0]) + al[1]


def particles(s, nbr=1e6, use_round=True):
    """Particle energies of a spectrum: n_j = round (1.6) or floor (3.6) of
    s_j / sum(s) * nbr, spread by linspace(E_j, E_j + 2, n_j), concatenated
    in channel order.  Vectorised with numpy's linspace arithmetic (i * step
    + start, the last point set to stop), so bit-identical to the loop."""
    q = s / np.sum(s) * nbr
    n = np.int_(np.round(q, 0)) if use_round else np.int_(q)
    n = np.maximum(n, 0)
    E = (2 * np.arange(len(s)) + 20) * 1.0
    total = int(n.sum())
    off = np.cumsum(n) - n
    ch = np.repeat(np.arange(len(s)), n)
    idx = (np.arange(total) - off[ch]).astype(np.float64)
    step = np.zeros(len(s))
    m = n > 1
    step[m] = 2.0 / (n[m] - 1)
    p = idx * step[ch]
    p += E[ch]
    p[(off + n - 1)[m]] = E[m] + 2
    return p


def histogram_1024(e, n):
    """np.histogram(e, bins=arange(2n+21))[0] (unit bins, half-open, the
    last closed, out of range dropped), bins 20..2n+19 kept, pair-summed.
    e is non-decreasing (the particles are, and the shift is increasing),
    so the counts come from searchsorted, as numpy's own histogram does
    on its sorted copy."""
    top = 2 * n + 20
    edges = np.arange(20, top + 1, dtype=np.float64)
    c = np.searchsorted(e, edges, side='left')
    c[-1] = np.searchsorted(e, float(top), side='right')
    h = np.diff(c)
    return h[0::2] + h[1::2]


def particles_literal(s, nbr=1e6, use_round=True):
    """The authors' form: a Python loop of linspace calls."""
    q = s / np.sum(s) * nbr
    n = np.int_(np.round(q, 0)) if use_round else np.int_(q)
    E = 2 * np.arange(len(s)) + 20
    out = []
    for j in range(len(s)):
        out += list(np.linspace(E[j], E[j] + 2, n[j]))
    return np.array(out)


def histogram_1024_literal(e, n):
    """The authors' form: np.histogram over unit bins."""
    h = np.histogram(e, bins=np.arange(2 * n + 20 + 1))[0][20:2 * n + 20]
    return h[0::2] + h[1::2]


class Impl:
    """--literal selects the authors' (slow, bit-identical) particle and
    histogram code; the default is the vectorised form."""
    literal = False
    particles = staticmethod(particles)
    histogram = staticmethod(histogram_1024)


_particle_cache = {}


def cached_particles(s, use_round):
    key = (s.tobytes(), use_round)
    p = _particle_cache.get(key)
    if p is None:
        if len(_particle_cache) > 64:
            _particle_cache.clear()
        p = Impl.particles(s, use_round=use_round)
        _particle_cache[key] = p
    return p


def get_drift_spectrum(s, al):
    tot = np.sum(s)
    e = shift_func(cached_particles(s, True), al)
    h = Impl.histogram(e, len(s))
    h = h / np.sum(h)
    return h * tot


def get_X_drift_est(X, al):
    cols = []
    for i in range(X.shape[1]):
        t = get_drift_spectrum(X[:, i], al)
        if i == 0:
            t[t == 0] = np.min(t[t > 0]) / 100
        cols.append(t)
    Xd = np.array(cols).T
    return Xd / np.sum(Xd, 0)


X0_LIST = np.array([[-0.14, 0], [-0.07, 0], [0, 0], [0.07, 0], [0.14, 0]])


def find_drift_spectrum(s_obs, s_model, alpha0=None, niter=100, tole=1e-4,
                        bounds=((-0.15, 0.15), (-1, 1))):
    tot = np.sum(s_model)
    n = len(s_model)
    parts = Impl.particles(s_model, use_round=False)

    def model(al):
        h = Impl.histogram(shift_func(parts, al), n)
        h = h / np.sum(h)
        return h * tot

    def cost(al):
        s2 = model(al)
        s1 = s_obs
        return np.sum(s2 - s1 * np.log(s2 + 1e-16) - s1
                      + s1 * np.log(s1 + 1e-16))

    if alpha0 is None:
        losses = np.array([cost(x) for x in X0_LIST])
        x0 = X0_LIST[np.argmin(losses)]
    else:
        x0 = alpha0
    sol = minimize(cost, x0=x0, bounds=bounds, method='Nelder-Mead',
                   tol=tole, options={'maxiter': niter})
    return model(sol.x), sol.x


def nnpu_drift(y, X, a0=None, alpha0=None, niter_max_in=1000,
               niter_max_out=10, tol=1e-4, search_alpha0=False):
    N = X.shape[1]
    Counter.fits += 1
    if search_alpha0:
        best = None
        for x in X0_LIST:
            Xe = get_X_drift_est(X, x)
            ae = nnpu(y, Xe)
            L = divergence(Xe, y, ae)
            if best is None or L < best[0]:
                best = (L, ae, x, Xe)
        _, a, alpha0, Xk = best
    else:
        a = (np.ones(N) / N * np.sum(y)) if a0 is None else a0.copy()
        Xk = X.copy()
    it_out, err = 0, 1.0
    al = alpha0
    while it_out < niter_max_out and err > tol:
        it_in, err_in = 0, 1.0
        while it_in < niter_max_in and err_in > tol:
            a_new = a * Xk.T.dot(y / Xk.dot(a))
            it_in += 1
            err_in = np.linalg.norm(a_new - a) / np.linalg.norm(a)
            a = a_new.copy()
        yk = Xk.dot(a)
        yk1, al = find_drift_spectrum(y, X.dot(a), alpha0=al)
        err_drift = np.linalg.norm(yk1 - yk) / np.linalg.norm(yk)
        err = max(err_in, err_drift)
        Xk = get_X_drift_est(X, al)
        it_out += 1
    return a, al, divergence(Xk, y, a)


def pomp_drift(y, X, fpr=0.01, niter_max_in=500, niter_max_out=10, tol=1e-3,
               turn=1, option=0):
    N = X.shape[1]
    if option == 0:
        _, al, _ = nnpu_drift(y, X, niter_max_in=niter_max_in,
                              niter_max_out=niter_max_out, tol=tol,
                              search_alpha0=True)
        Xe = get_X_drift_est(X, al)
        res = pomp(y, Xe, fpr, niter_max_in, tol=tol, turn=turn)
        res['Alpha'] = [al]
        return res
    kw = dict(niter_max_in=niter_max_in, niter_max_out=niter_max_out, tol=tol)
    I0 = [0]
    I = list(range(1, N))
    w, al, L0 = nnpu_drift(y, X[:, 0:1], **kw)
    alphas = [al]
    losses = [L0]
    alist = []

    def full(I0, w):
        a = np.zeros(N)
        a[I0] = w
        return a

    # forward: every support fitted with the 5-point start search
    while len(I) != 0:
        DT = threshold(fpr, len(I))
        L = np.zeros(len(I))
        ws, als = [], []
        for i, c in enumerate(I):
            wt, at, L[i] = nnpu_drift(y, X[:, I0 + [c]], **kw)
            ws.append(wt)
            als.append(at)
        j = int(np.argmin(L))
        losses.append(L[j])
        if -2 * (L[j] - L0) > DT:
            I0 = I0 + [I[j]]
            I.pop(j)
            L0 = L[j]
            w = ws[j]
            al = als[j]
            alphas.append(al)
        else:
            break
    procedure = list(I0)
    alist.append(full(I0, w))
    Xe = get_X_drift_est(X, al)
    # backward: warm-started at the current shift, stops at one nuclide
    if turn > 1 and len(I0) > 2:
        while len(I0) != 2:
            if turn == 2:
                DT = threshold(fpr, len(I) + 1)
            else:
                DT = threshold(fpr / 100, len(I) + 1)
            L = np.zeros(len(I0) - 1)
            ws, als = [], []
            for p in range(1, len(I0)):
                sup = I0[:p] + I0[p + 1:]
                wt, at, L[p - 1] = nnpu_drift(y, X[:, sup], alpha0=al, **kw)
                ws.append(wt)
                als.append(at)
            j = int(np.argmin(L)) + 1
            if abs(-2 * (L[j - 1] - L0)) < DT:
                I.append(I0[j])
                procedure.append(I0[j])
                I0 = I0[:j] + I0[j + 1:]
                L0 = L[j - 1]
                w = ws[j - 1]
                al = als[j - 1]
                alphas.append(al)
            else:
                break
    alist.append(full(I0, w))
    if turn == 3 and len(procedure) != len(I0):
        losses = [L0]
        I0, I, L0, w, losses = pomp_forward(y, Xe, I0, I, L0, fpr,
                                            niter_max_in, tol, losses, w)
    alist.append(full(I0, w))
    std = np.zeros(N)
    std[I0] = std_fisher(X[:, I0], w)
    return {'a': alist[2], 'Iden': I0, 'Std': std, 'Procedure': procedure,
            'Alist': alist, 'LossList': losses, 'Alpha': alphas}


# --------------------------------------------------------------------------
# command line

def opt(args, name, default, conv):
    if name in args:
        i = args.index(name)
        v = conv(args[i + 1])
        del args[i:i + 2]
        return v
    return default


def run_many(kind, args):
    alpha = opt(args, '--alpha', 0.01, float)
    turn = opt(args, '--turn', 2, int)
    option = opt(args, '--option', 0, int)
    nmax = opt(args, '--n', 0, int)
    if '--literal' in args:
        args.remove('--literal')
        Impl.particles = staticmethod(particles_literal)
        Impl.histogram = staticmethod(histogram_1024_literal)
        Impl.literal = True
    if len(args) != 3:
        sys.exit(__doc__)
    X = np.load(args[0])
    Y = np.load(args[1])
    if Y.ndim == 1:
        Y = Y[None, :]
    if nmax > 0:
        Y = Y[:nmax]
    out = []
    t0 = time.perf_counter()
    for y in Y:
        y = np.asarray(y, dtype=np.float64)
        Counter.fits = 0
        if kind == 'pomp':
            r = pomp(y, X, alpha=alpha, turn=turn)
        else:
            r = pomp_drift(y, X, fpr=alpha, turn=turn, option=option)
        e = {'Iden': sorted(int(i) for i in r['Iden']),
             'a': [float(v) for v in r['a']], 'n_fits': Counter.fits}
        if kind == 'drift':
            e['shift'] = [float(v) for v in r['Alpha'][-1]]
        out.append(e)
    dt = (time.perf_counter() - t0) / max(len(Y), 1)
    with open(args[2], 'w') as f:
        json.dump(out, f)
    print('reference %s (Python/numpy, %d spectra): %.3f ms/spectrum'
          % ('P-OMP' if kind == 'pomp' else 'P-OMP drift option %d' % option,
             len(Y), 1e3 * dt))
    print('PY_MS %.6f' % (1e3 * dt))


def compare(args):
    shift = '--shift' in args
    args = [a for a in args if a != '--shift']
    g = json.load(open(args[0]))
    p = json.load(open(args[1]))
    n = min(len(g), len(p))
    bad = [i for i in range(n)
           if sorted(g[i]['Iden']) != sorted(p[i]['Iden'])]
    print('AGREE %d/%d' % (n - len(bad), n))
    if bad:
        print('disagreeing spectra: ' + ' '.join(str(i) for i in bad))
        for i in bad[:10]:
            m = g[i].get('extras', {}).get('test_margin')
            sh = ''
            if shift:
                sh = '  shift gspec %.5f reference %.5f' % (
                    g[i]['shift'][0], p[i]['shift'][0])
            print('  %d: gspec %s  reference %s%s%s'
                  % (i, g[i]['Iden'], p[i]['Iden'],
                     '' if m is None else '  (gspec test margin %.3g)' % m,
                     sh))
    if shift:
        d = [abs(g[i]['shift'][0] - p[i]['shift'][0]) for i in range(n)]
        print('mean |gain shift difference| %.3g (max %.3g) over %d spectra'
              % (sum(d) / max(n, 1), max(d) if d else 0, n))


def maxrel(a, b):
    a = np.asarray(a, dtype=float)
    b = np.asarray(b, dtype=float)
    return float(np.max(np.abs(a - b) / np.maximum(np.abs(b), 1e-300)
                        * (np.abs(b) > 0)
                        + (np.abs(b) == 0) * np.abs(a - b)))


def report(name, ok, detail):
    print('%s %s: %s' % ('PASS' if ok else 'FAIL', name, detail))
    return ok


def selftest(args):
    data, exporter = args[0], args[1]
    ref = os.path.join(data, 'reference')
    good = True
    with tempfile.TemporaryDirectory() as tmp:
        lib12 = os.path.join(tmp, 'x12.npy')
        libd = os.path.join(tmp, 'xd.npy')
        nucl = 'Co60,Ba133,Co57,Cs137,Eu152,Am241,Y88,Bi207,I123,I131,' \
               'Tc99m,Ga67'
        subprocess.run([exporter, 'export', lib12, '--gammabench', data,
                        '70', nucl], check=True)
        subprocess.run([exporter, 'export', libd, '--scenario', data, '3',
                        '10'], check=True)
        X = np.load(lib12)
        Xd = np.load(libd)
    d = json.load(open(os.path.join(ref, 'pomp_example.json')))
    y = np.array(d['y'], dtype=float)
    e = d['expected']
    t0 = time.perf_counter()
    r = pomp(y, X, alpha=0.01, turn=2)
    dt = time.perf_counter() - t0
    ok = list(map(int, r['Iden'])) == e['Iden']
    good &= report('pomp Iden', ok, '%s (expected %s)' % (r['Iden'], e['Iden']))
    for k in ('a', 'Std', 'LossList'):
        if len(r[k]) != len(e[k]):
            good &= report('pomp ' + k, False, 'length %d vs %d'
                           % (len(r[k]), len(e[k])))
            continue
        m = maxrel(r[k], e[k])
        good &= report('pomp ' + k, m < 1e-7, 'max rel diff %.2e' % m)
    print('pomp example: %.3f s' % dt)

    d = json.load(open(os.path.join(ref, 'pomp_drift_example.json')))
    y = np.array(d['y'], dtype=float)
    e = d['expected']
    if not Impl.literal:
        same = True
        for sp in [Xd[:, i] for i in range(Xd.shape[1])] + [y, Xd.dot(
                np.arange(1.0, Xd.shape[1] + 1))]:
            for rnd in (True, False):
                p1 = particles(sp, use_round=rnd)
                p2 = particles_literal(sp, use_round=rnd)
                same &= p1.shape == p2.shape and bool(np.all(p1 == p2))
                for al in ((0, 0), (-0.1, 0.3), (0.15, -1), (-0.15, 1),
                           (0.0731, 0.0123)):
                    ee = shift_func(p1, al)
                    same &= bool(np.all(histogram_1024(ee, len(sp))
                                        == histogram_1024_literal(
                                            ee, len(sp))))
        good &= report('vectorised particles/histogram', same,
                       'bit-identical to the loop / np.histogram forms'
                       if same else 'differ')
    t0 = time.perf_counter()
    r = pomp_drift(y, Xd, fpr=0.01, turn=2, option=1)
    dt = time.perf_counter() - t0
    ok = list(map(int, r['Iden'])) == e['Iden']
    good &= report('drift Iden', ok, '%s (expected %s)'
                   % (r['Iden'], e['Iden']))
    for k, rk in (('a', 'a'), ('Std', 'Std'), ('LossList', 'LossList'),
                  ('Alpha_per_accepted_step', 'Alpha')):
        got = np.array(r[rk], dtype=float)
        exp = np.array(e[k], dtype=float)
        if got.shape != exp.shape:
            good &= report('drift ' + k, False, 'shape %s vs %s'
                           % (got.shape, exp.shape))
            continue
        if k == 'Alpha_per_accepted_step':
            m = float(np.max(np.abs(got - exp)))
            good &= report('drift ' + k, m < 1e-7,
                           'max abs diff %.2e (stored to 8 decimals)' % m)
        else:
            m = maxrel(got, exp)
            good &= report('drift ' + k, m < 1e-7, 'max rel diff %.2e' % m)
    print('drift example: %.1f s' % dt)
    print('SELFTEST %s' % ('PASS' if good else 'FAIL'))
    return 0 if good else 1


def main():
    args = sys.argv[1:]
    if not args:
        sys.exit(__doc__)
    cmd = args.pop(0)
    if cmd == 'compare':
        return compare(args)
    if cmd in ('pomp', 'drift'):
        return run_many(cmd, args)
    if cmd == 'selftest' and '--literal' in args:
        args.remove('--literal')
        Impl.particles = staticmethod(particles_literal)
        Impl.histogram = staticmethod(histogram_1024_literal)
        Impl.literal = True
    if cmd == 'selftest' and len(args) == 2:
        return selftest(args)
    sys.exit(__doc__)


if __name__ == '__main__':
    sys.exit(main() or 0)
