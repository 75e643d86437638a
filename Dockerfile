FROM python:3.12-slim
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1
WORKDIR /app
COPY pyproject.toml README.md ./
# Installs the pinned dependencies (the project itself is run from /app, not installed).
RUN pip install --no-cache-dir .
COPY . .
# Throwaway secrets: settings refuse to load without them when DEBUG is off.
RUN SECRET_KEY=collectstatic-only \
    JOBS_ENCRYPTION_KEYS=$(python -c "from cryptography.fernet import Fernet; print(Fernet.generate_key().decode())") \
    python manage.py collectstatic --noinput
RUN useradd --create-home app && mkdir -p /data/media && chown app /data/media
USER app
EXPOSE 8000
# --ws-max-size: our WebSockets only send to clients; uvicorn would otherwise take 16 MiB messages.
CMD ["uvicorn", "config.asgi:application", "--host", "0.0.0.0", "--port", "8000", "--ws-max-size", "65536"]
