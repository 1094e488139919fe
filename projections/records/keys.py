"""The leading key of the `records` table's tenant indexes: a 64-bit hash, not the UUID.

Each tenant's feed and lists grow at their own right-hand end, so an index led by the
tenant takes as many insertion points as there are tenants. PostgreSQL splits a full leaf
page in the middle unless the page is the index's last, or the new entry follows a run of
its neighbours in an index of narrow entries (two 8-byte columns at most: "split after
new item", nbtsplitloc.c). Led by the tenant's 16-byte UUID, an entry was too wide for
that, and every page of these indexes stayed about half full (70-115 bytes an entry at 1M
events). Led by `uuid_hash_extended(tenant_id, hashtext(resource))` (8 bytes) and one
8-byte column, pages fill to about 90% (about 32 bytes an entry). The hash is PostgreSQL's
own (immutable: the one hash indexes and hash partitioning use), computed from the row; two
(tenant, resource) pairs whose hashes collide would share a range of the index, and every
query also compares `tenant_id` and `resource`, so they would only cost each other
filtered rows.

A query uses an index only with the same expression: this fragment, with the values as
parameters (`%s`: the tenant id, then the resource name).
"""

from __future__ import annotations

# (records_tenant_resource_*): one resource of a tenant (the feed, type by type; the lists).
RESOURCE_KEY = (
    "uuid_hash_extended(tenant_id, hashtext(resource))"
    " = uuid_hash_extended(%s::uuid, hashtext(%s::text))"
)
