#!/usr/bin/env python3
"""PyTorch timings of the architectures bench/bench_nn.c times in gspec.

    python3 bench/reference_torch.py cpu|turner [SECONDS]

The same layers, shapes and batch sizes as bench_nn.c (written by us for
this comparison; Debian's python3-torch, CPU).  Prints
    TORCH_LAT1_MS t       batch-1 latency, 1 thread, eval mode, no_grad
    TORCH_INF_SPS s       batch-512 inference spectra/s, 1 thread
    TORCH_TRAIN_SPS s     training spectra/s on 2 threads (forward, BCE
                          with logits, backward, Adam), batch 512 (cpu) /
                          32 (turner)
"""
import sys
import time

import torch
import torch.nn as nn


def cpu_net():
    layers = []
    cin, length = 1, 1024
    for cout, k in ((32, 20), (64, 16), (64, 16)):
        layers += [nn.Conv1d(cin, cout, k), nn.MaxPool1d(2),
                   nn.BatchNorm1d(cout), nn.ReLU()]
        cin, length = cout, (length - k + 1) // 2
    layers += [nn.Flatten(), nn.Linear(cin * length, 128), nn.ReLU(),
               nn.Dropout(0.5), nn.Linear(128, 9)]
    return nn.Sequential(*layers)


def turner_net():
    layers = []
    cin, length = 1, 1024
    for _ in range(3):
        for _ in range(2):
            layers += [nn.Conv1d(cin, 40, 7, padding=3), nn.LeakyReLU(0.1)]
            cin = 40
        layers += [nn.MaxPool1d(2), nn.Dropout1d(0.5)
                   if hasattr(nn, 'Dropout1d') else nn.Dropout2d(0.5)]
        length //= 2
    layers += [nn.Flatten(), nn.Linear(40 * length, 700), nn.LeakyReLU(0.1),
               nn.Dropout(0.5), nn.Linear(700, 9)]
    return nn.Sequential(*layers)


def timed(fn, secs, per_call):
    fn()
    fn()
    n, t0 = 0, time.perf_counter()
    while True:
        fn()
        n += per_call
        t = time.perf_counter() - t0
        if t >= secs:
            return n, t


def main():
    which = sys.argv[1] if len(sys.argv) > 1 else 'cpu'
    secs = float(sys.argv[2]) if len(sys.argv) > 2 else 3.0
    torch.manual_seed(1)
    net = cpu_net() if which == 'cpu' else turner_net()
    x = torch.rand(512, 1, 1024)
    x = x / x.sum(dim=2, keepdim=True)
    target = (torch.arange(512 * 9).reshape(512, 9) * 7 % 3 == 0).float()

    torch.set_num_threads(1)
    net.eval()
    with torch.no_grad():
        x1 = x[:1]
        n, t = timed(lambda: net(x1), secs / 3, 1)
        print('TORCH_LAT1_MS %.4f' % (1e3 * t / n))
        n, t = timed(lambda: net(x), secs, 512)
        print('TORCH_INF_SPS %.1f' % (n / t))

    torch.set_num_threads(2)
    net.train()
    tb = 512 if which == 'cpu' else 32
    xb, yb = x[:tb], target[:tb]
    opt = torch.optim.Adam(net.parameters(), lr=1e-3)
    loss_fn = nn.BCEWithLogitsLoss()

    def step():
        opt.zero_grad()
        loss = loss_fn(net(xb), yb)
        loss.backward()
        opt.step()

    n, t = timed(step, secs, tb)
    print('TORCH_TRAIN_SPS %.1f' % (n / t))


if __name__ == '__main__':
    main()
