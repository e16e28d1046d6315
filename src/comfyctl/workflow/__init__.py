"""Workflows: load both formats, convert UI→API, set parameters, apply seeds, validate offline."""
