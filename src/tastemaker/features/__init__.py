"""Feature definitions shared by training and serving."""
