"""Background work: the Dramatiq broker, thin idempotent actors, and the periodic scheduler."""
