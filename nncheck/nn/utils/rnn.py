"""Packed sequences for the recurrent layers (being written; see the recurrent issue)."""
