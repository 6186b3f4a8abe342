"""An experiment on disk: its directory, journal, saved settings, and views of what happened."""
