"""The pool sizes of each role: the budget's by default, the operator's when configured."""

from __future__ import annotations

import pytest

from syncline.config import Settings
from syncline.database import BUDGETS, pool_sizes


def test_the_default_budgets_are_5_per_api_process_and_8_per_worker() -> None:
    assert BUDGETS["api"].total == 5
    assert BUDGETS["worker"].total == 8
    assert pool_sizes("api", None, None) == (2, 1, 0)
    assert pool_sizes("worker", None, None) == (3, 1, 0)


def test_configured_sizes_win_and_unbudgeted_roles_keep_pools_of_ten() -> None:
    assert pool_sizes("api", 6, 2) == (6, 2, 0)
    assert pool_sizes("process", None, None) == (10, 10, 10)
    assert pool_sizes("replay", 4, None) == (4, 4, 4)


def test_pool_sizes_are_read_from_the_environment() -> None:
    settings = Settings.from_env(
        {"SYNCLINE_DB_POOL_SIZE": "7", "SYNCLINE_DB_EVENT_STORE_POOL_SIZE": "3"}, dotenv=None
    )
    assert (settings.db_pool_size, settings.db_event_store_pool_size) == (7, 3)
    assert Settings.from_env({}, dotenv=None).db_pool_size is None
    with pytest.raises(ValueError, match="at least 1"):
        Settings.from_env({"SYNCLINE_DB_POOL_SIZE": "0"}, dotenv=None)
