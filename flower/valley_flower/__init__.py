"""valley's federated algorithms as a Flower app: `server_app` (strategies, rounds.csv,
global.safetensors) and `client_app` (local training through the `valley` package)."""
