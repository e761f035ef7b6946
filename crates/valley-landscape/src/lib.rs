//! 1D valleys `L(θf + λ·d)`: evaluation, asymmetry metrics, outputs (paper §1–§3).
