"""What tests share: one poller, one fake clock, the webhook receiver kit, credential and
projection helpers. Test modules import from here, never from one another."""
