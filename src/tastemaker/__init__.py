"""tastemaker: a self-hostable personalization engine for music and audio streaming."""

__version__ = "0.1.0"
