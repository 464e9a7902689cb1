# syntax=docker/dockerfile:1
# One image for every ticketflow process; docker-compose.yml picks the command (web, worker, beat, flower, migrate).
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    DJANGO_DEBUG=0 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

RUN groupadd --system --gid 10001 ticketflow \
    && useradd --system --uid 10001 --gid ticketflow --create-home --home-dir /home/ticketflow ticketflow

WORKDIR /app

# Dependencies before the code, so a code change reuses this layer. The lock pins the whole tree: no resolving here.
COPY requirements.lock ./
RUN pip install --no-deps -r requirements.lock

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
