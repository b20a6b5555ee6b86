"""Input and output shapes of Intercom's REST API 2.x, one module per resource (as `api/views/`).

Inputs list their writable fields explicitly (no mass assignment); outputs are Intercom's objects.
"""
