"""msgspec Structs for everything on the wire."""
