"""Update phone numbers in bulk through Telnyx's phone-number jobs API."""

__all__: list[str] = []
__version__ = "0.1.0"
