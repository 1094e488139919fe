"""Webhook delivery: the subscriber (log → outbox), the sender workers, signing, retries, SSRF."""
