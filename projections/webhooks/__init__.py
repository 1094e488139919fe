"""The webhooks read model: each tenant's webhook subscriptions, for the API's list."""
