"""Writes the tiny SVHN-layout .mat fixtures used by src/svhn.rs tests.

X is H x W x C x N uint8 with X[h, w, c, n] = (h + 2*w + 7*c + 13*n) % 256 and
y is N x 1 double with labels 1..10 (10 meaning digit 0), as in the real files.
Run with scipy: python make_svhn_fixtures.py
"""
import numpy as np
import scipy.io

H, W, C, N = 4, 5, 3, 6
h, w, c, n = np.meshgrid(np.arange(H), np.arange(W), np.arange(C), np.arange(N), indexing="ij")
X = ((h + 2 * w + 7 * c + 13 * n) % 256).astype(np.uint8)
y = np.array([[10], [1], [2], [9], [10], [5]], dtype=np.float64)
scipy.io.savemat("svhn_tiny_compressed.mat", {"X": X, "y": y}, do_compression=True)
scipy.io.savemat("svhn_tiny_plain.mat", {"X": X, "y": y}, do_compression=False)
