"""Reading the audit log: events (`events`), access and exposure reports (`reports`), chain verification and
partition upkeep (`chain`), the audit retention (`retention`); `log` re-exports them all."""
