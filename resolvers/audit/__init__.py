"""Reading the audit log: events, access and exposure reports, chain verification, retention."""
