"""Pieces every stage shares: atomic artifact directories, user-facing errors, logging."""
