"""LedgerNorm: a BatchNorm in a vocabulary of its own, and its bnparity adapter (``ledger_norm.adapter``)."""
