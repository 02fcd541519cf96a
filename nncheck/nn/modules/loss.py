"""loss layers (being written; see the layer family issue)."""

__all__ = []
