"""Writes. Each module holds one capability; views, serializers and tasks call these."""
