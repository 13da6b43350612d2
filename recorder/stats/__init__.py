"""Turn figures of a recorded session: what each turn cost in time, measured on the wire.

figures.py holds the shapes (one home); the fold that computes them from a recording's steps,
the derived tables that keep them, the fleet summary and the OpenTelemetry export each live in
a module of their own beside it.
"""
