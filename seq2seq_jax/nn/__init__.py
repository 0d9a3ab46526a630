"""Pure-function recurrent cells, layers over time and attention."""
