"""`make run` and `make demo`: the development stack in the foreground (python -m devstack run|demo).

Not part of the service: the image neither needs nor runs it. services.py decides where PostgreSQL and Redis come
from (the configured ones, or embedded ones from embedded.py), run.py prepares the database, prints the banner and
runs the Procfile under honcho until Ctrl-C.
"""
