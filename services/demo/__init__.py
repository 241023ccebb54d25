"""The demo: a scheme year end to end against a running suite (`mutual-aid demo`), and the
demo data `mutual-aid serve` loads on its first start. Fictional people only: every ID number
is made here with a valid check digit (people.py)."""
