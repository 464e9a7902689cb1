# syntax=docker/dockerfile:1
# One image for every ticketflow process; docker-compose.yml picks the command (web, worker, beat, flower, migrate).
# The runtime only: requirements.lock (tests and tools live in requirements-dev.lock, which never enters the image),
# the code without tests/, bench/ or docs/ (.dockerignore). One stage is enough: every locked package installs from a
# wheel (--only-binary), so nothing is compiled and the slim base needs no compiler, here or in a build stage.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    DJANGO_DEBUG=0 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

RUN groupadd --system --gid 10001 ticketflow \
    && useradd --system --uid 10001 --gid ticketflow --create-home --home-dir /home/ticketflow ticketflow

WORKDIR /app

# Dependencies before the code, so a code change reuses this layer. The lock pins the whole runtime tree: no resolving
# here (--no-deps), and a package without a wheel fails the build instead of pulling in a compiler.
COPY requirements.lock ./
RUN pip install --no-deps --only-binary=:all: -r requirements.lock

# The code stays owned by root: the processes run as `ticketflow` and cannot rewrite it.
COPY . .
# Production settings (above): they refuse to start without a secret key of your own (DJANGO_SECRET_KEY at run time).
# collectstatic needs neither the real one nor a database.
RUN DJANGO_SECRET_KEY=collectstatic-only python manage.py collectstatic --noinput \
    && python -m compileall -q apps config workers

USER ticketflow
EXPOSE 8000 5555

# gthread workers, JSON access log: see config/gunicorn.py.
ENV GUNICORN_BIND=0.0.0.0:8000
CMD ["gunicorn", "-c", "config/gunicorn.py", "config.wsgi:application"]
