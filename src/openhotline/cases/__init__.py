"""The case lifecycle: cases, their events, the transition table and move()."""
