"""Privacy operations (DPP6, Part 6A): data requests and reminders, erasure, suppression, opt-outs,
disclosures, legal hold, the privacy notice, leaving third parties out of a copy."""
