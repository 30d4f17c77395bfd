"""Offline text analytics for reviews and patient comments: language, sentiment and aspects."""
