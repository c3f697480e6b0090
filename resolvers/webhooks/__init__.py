"""Outbound webhooks: subscriptions, the event outbox, signed deliveries with retries."""
