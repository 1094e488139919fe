"""The operator's read models: tenants and their credentials (never secrets)."""
