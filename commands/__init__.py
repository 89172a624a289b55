"""Chat commands: declarations, argument conversion, and the handlers themselves."""
