"""Addresses of the portal's own pages, built from the route table by route name: templates
(`url("dossier_edit", dossier_id=d.id)`) and handlers (`url(request, "dossier_detail",
dossier_id=did)`) name the route, so a path is written once, in routes.py."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any
from urllib.parse import quote, urlencode

from starlette.convertors import PathConvertor
from starlette.requests import Request
from starlette.routing import BaseRoute, Route


class Urls:
    """Builds paths (`/dossiers/12/edit?x=1`) by route name. Made once from the route table:
    a name is looked up in a dict, not matched against every route in turn."""

    def __init__(self, routes: Iterable[BaseRoute]) -> None:
        self._routes: dict[str, Route] = {}
        for route in routes:
            if not isinstance(route, Route):
                continue
            if route.name in self._routes:
                raise ValueError(f"two routes are named {route.name!r}")
            if "query" in route.param_convertors:
                raise ValueError(f"route {route.name!r} has a path parameter named 'query'")
            self._routes[route.name] = route

    def __contains__(self, name: str) -> bool:
        return name in self._routes

    def __call__(self, name: str, /, query: Mapping[str, Any] | None = None, **params: Any) -> str:
        """The path of route `name` with its path parameters `params`, and `query` (a mapping;
        None values left out) url-encoded after a `?`. An unknown name, a missing or unknown
        parameter, or an empty one raises: these are programming errors."""
        route = self._routes.get(name)
        if route is None:
            raise LookupError(f"no route is named {name!r}")
        convertors = route.param_convertors
        if params.keys() != convertors.keys():
            raise TypeError(
                f"route {name!r} takes the path parameters {sorted(convertors)},"
                f" not {sorted(params)}"
            )
        path = route.path_format
        for key, value in params.items():
            convertor = convertors[key]
            keep_slashes = isinstance(convertor, PathConvertor)
            if str(value) == "" or ("/" in str(value) and not keep_slashes):
                raise ValueError(f"route {name!r}: bad value {value!r} for {key!r}")
            text = convertor.to_string(value)
            path = path.replace("{" + key + "}", quote(text, safe="/" if keep_slashes else ""))
        if query:
            pairs = {k: v for k, v in query.items() if v is not None}
            if pairs:
                # As jinja2's `urlencode` filter quotes a string: "/" kept (a `next=/a/b`
                # stays readable), a space written %20.
                path += "?" + urlencode(pairs, doseq=True, safe="/", quote_via=quote)
        return path


def url(
    request: Request, name: str, /, query: Mapping[str, Any] | None = None, **params: Any
) -> str:
    """The path of route `name` in the request's application (see `Urls.__call__`)."""
    urls: Urls = request.app.state.urls
    return urls(name, query, **params)
