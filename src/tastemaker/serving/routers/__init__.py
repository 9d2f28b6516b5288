"""One router per resource: health, events, users (their recommendations), tracks, radio."""
