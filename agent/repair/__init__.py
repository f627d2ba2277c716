"""Interactive repair sessions (``codemend repair``): a person approves, rejects, edits and
undoes the loop's proposals at a terminal. See ``session`` for the flow."""
