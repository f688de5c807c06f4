"""Monitoring statistics: feature and prediction drift, realized performance. Pure functions, no I/O."""
