"""Repository mode: ``codemend fix`` heals an existing git work tree (see docs/ARCHITECTURE.md)."""
