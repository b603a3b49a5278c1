"""Platform tables: one module per platform, each exporting `build() -> Platform`."""
