"""Business rules. Services never import starlette or jinja2."""
