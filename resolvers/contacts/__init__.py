"""Contacts and activities: scoped reads, validated writes, attachments, the change history."""
