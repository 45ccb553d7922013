"""Writes of the crowd API. Views call these; they call labeling's services."""
