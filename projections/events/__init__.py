"""The event log read model: every public event, its envelope, in log order."""
