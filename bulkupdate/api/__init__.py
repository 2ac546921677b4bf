"""The API: one HTTP client, the wire format, and the pace the account allows."""
