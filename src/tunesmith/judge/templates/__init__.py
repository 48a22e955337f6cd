"""The HTML of the listening test and of the run report, kept as Python strings so that they
ship with the package without package-data settings."""
