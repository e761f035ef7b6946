//! Federated learning with FedSign and baselines (paper §5).
