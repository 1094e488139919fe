"""The change feed: one row per record, its latest state, in log order."""
