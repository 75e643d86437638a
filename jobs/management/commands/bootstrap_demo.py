"""Create (once) the local demo administrator and print its credentials and API token."""
from __future__ import annotations

import secrets

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand
from rest_framework.authtoken.models import Token


class Command(BaseCommand):
    help = "Create the demo admin user if missing and print its login and API token."

    def add_arguments(self, parser):
        parser.add_argument("--username", default="admin")

    def handle(self, *args, username: str, **options):
        credentials_file = settings.VAR_DIR / "demo-credentials.txt"
        User = get_user_model()
        user = User.objects.filter(username=username).first()
        if user is None:
            password = secrets.token_urlsafe(12)
            user = User.objects.create_superuser(username=username, email=f"{username}@example.com", password=password)
            credentials_file.parent.mkdir(parents=True, exist_ok=True)
            credentials_file.write_text(password + "\n")
            credentials_file.chmod(0o600)
        elif credentials_file.exists():
            password = credentials_file.read_text().strip()
        else:
            password = "(unchanged: set it with `manage.py changepassword`)"
        token, _ = Token.objects.get_or_create(user=user)
        self.stdout.write(f"Demo admin user: {username}  password: {password}\nAPI token: {token.key}")
