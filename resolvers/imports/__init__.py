"""Bulk contact import: uploads, decoding, mapping and dedupe, the job that runs every row through createContact."""
