"""The application as uvicorn imports it (`portal.asgi:app`), configured from the environment."""

from portal.app import create_app
from portal.config import Settings

app = create_app(Settings.from_env())
