"""vembed's PyTorch training engine (see python/README.md and src/engine/torch)."""
