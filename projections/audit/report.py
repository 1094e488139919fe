"""What ChainVerifier found: each tenant's check, and the keys its checkpoints were held to."""

from __future__ import annotations

from dataclasses import dataclass, field

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from projections.audit.chain import GENESIS


@dataclass
class Mismatch:
    sequence: int
    event_id: str  # the first event that does not match (see `reason`)
    reason: str

    def describe(self) -> str:
        return f"sequence {self.sequence}, {self.event_id}: {self.reason}"


@dataclass
class TenantCheck:
    """One tenant's chain as far as it was checked."""

    tenant_id: str
    sequence: int = 0  # the last sequence recomputed from the event store
    chain_hash: bytes = GENESIS
    verified: int = 0  # the last sequence found as the chain recorded it
    checked: int = 0  # events recomputed and compared
    checkpoints: int = 0  # checkpoints whose signature and hash verified
    last_checkpoint: int = 0  # the sequence of the last of them
    listed: list[int] = field(default_factory=list)  # sequences of the checkpoints met
    mismatch: Mismatch | None = None
    limit_reached: bool = False
    unchained: int = 0  # its stored events after the audit projection's position
    # Sequences whose hash recomputed from the event store is wanted (kept checkpoints'),
    # and those hashes: the chain is recomputed up to the last of them even past a
    # mismatch, and over events not chained yet.
    wanted: frozenset[int] = frozenset()
    hashes: dict[int, bytes] = field(default_factory=dict)
    last_wanted: int = field(init=False, default=0)

    def __post_init__(self) -> None:
        self.last_wanted = max(self.wanted, default=0)

    @property
    def intact(self) -> bool:
        return self.mismatch is None

    @property
    def wants_more(self) -> bool:
        """Whether a wanted sequence lies beyond what was recomputed."""
        return self.sequence < self.last_wanted

    def recomputed(self, chain_hash: bytes) -> None:
        """The next sequence was recomputed from the event store: its hash."""
        self.sequence += 1
        self.chain_hash = chain_hash
        if self.sequence in self.wanted:
            self.hashes[self.sequence] = chain_hash


@dataclass
class Report:
    tenants: dict[str, TenantCheck]
    undecodable: list[str] = field(default_factory=list)  # rows that no longer decode
    rows: int = 0  # stored events read
    complete: bool = True  # False: stopped at `max_rows` before the chained head
    every_tenant: bool = False  # a tenant with events but no chain is checked too
    tracked: int = 0  # the audit projection's position: the log is chained up to it
    # The keys the checkpoints were verified with, by key_id; `pinned`: the caller's
    # (`--public-key`), else those the database's `audit_keys` holds.
    keys: dict[str, Ed25519PublicKey] = field(default_factory=dict)
    pinned: bool = False
    wanted: dict[str, frozenset[int]] = field(default_factory=dict)  # by tenant

    @property
    def intact(self) -> bool:
        # A row that no longer decodes is missing from its tenant's chain, which names it.
        return all(t.intact for t in self.tenants.values())

    def check(self, tenant_id: str) -> TenantCheck:
        """A new check of a tenant met in the log (`every_tenant`)."""
        check = TenantCheck(tenant_id, wanted=self.wanted.get(tenant_id, frozenset()))
        self.tenants[tenant_id] = check
        return check

    @property
    def trusted(self) -> str:
        """The keys checkpoints must be signed with, in words."""
        return "the pinned keys" if self.pinned else "the keys the database holds"
