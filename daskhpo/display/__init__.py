"""What a person sees: the live progress display and the plots."""
