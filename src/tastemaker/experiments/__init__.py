"""Online experiments: assignment, statistics, sequential testing, power and impact."""
