"""Sample data: legacy v1 libraries for tests, benchmarks and ``make demo``."""
