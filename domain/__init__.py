"""The domain model: aggregates, their events and invariants (pure; imports nothing of ours)."""
