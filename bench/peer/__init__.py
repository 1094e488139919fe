"""A CRUD + transactional-outbox peer: what a competent team ships without event sourcing.

It is the yardstick for Syncline's cost (`make bench` scenario `cost`): the same stack
(Litestar on uvicorn, psycopg 3 with a pool, msgspec), the same contact body, API key
authentication cached in the process, and each create inserts the row and an outbox row in
one transaction; an outbox relay process publishes the outbox while the benchmark runs.
"""
