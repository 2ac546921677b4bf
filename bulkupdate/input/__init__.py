"""Input: raw lines from files, streams or the account's listing, checked and batched."""
