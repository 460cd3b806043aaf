"""Reading finished results: one experiment by name, and what every config run in a directory recorded."""
