"""Identity: who a caller is (tokens, API keys, support), logins, users, teams, credentials."""
