"""The change feed: pages of the `records` table in log order (each record once, at its last
change), its cursors, and the listener that wakes long-polls."""
