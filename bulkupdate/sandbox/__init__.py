"""A strict local server that behaves like Telnyx's phone-number jobs API."""
