"""Plugins and presets: discovering plugins (pluggy), registry.yaml presets and ``build()``, error hints, and the catalog users list."""
