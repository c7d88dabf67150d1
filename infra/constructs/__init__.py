"""One construct per capability, each secure by default."""
