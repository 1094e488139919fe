"""The audit hash chain: projection, checkpoints, verification, export."""
