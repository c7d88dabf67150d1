"""The compliance team's command line: privacy requests, legal holds, the audit chain."""
