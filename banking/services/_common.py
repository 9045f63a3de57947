from __future__ import annotations


class BankingError(ValueError):
    """A banking action refused, with a message a finance user understands. Nothing was changed."""
