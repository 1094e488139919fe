"""The HTTP API: Litestar app factory, controllers, msgspec schemas, auth, problem details."""
