"""The webhook portal (one tenant) and the operator console: server-rendered pages."""
