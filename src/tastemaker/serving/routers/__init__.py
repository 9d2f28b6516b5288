"""One router per resource: health, events, users (recommendations, onboarding, forgetting), tracks, radio, admin."""
