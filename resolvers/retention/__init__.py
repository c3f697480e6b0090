"""Retention (DPP2): policies, their condition language, and what each action does to the rows."""
