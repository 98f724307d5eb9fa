"""What a command's process holds: its output directory (checked before anything is written, locked) and its
terminal (third-party noise goes to the log, the live display stays clean)."""
