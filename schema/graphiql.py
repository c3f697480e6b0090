"""The GraphiQL page (development only), served with its assets from an installed package, never a CDN.

The PyPI package `graphene-django-graphiql-static` ships GraphiQL 2, React and ReactDOM as plain files;
only those files are read from it (no Django import). The page presets an `Authorization: Bearer`
header. When the package is missing the page says so and shows how to call the API with curl.
"""

from __future__ import annotations

import html
import json
from importlib import resources
from importlib.resources.abc import Traversable

from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route

ASSET_PACKAGE = "graphene_django_graphiql_static"
ASSETS = {
    "graphiql.min.css": "text/css",
    "react.production.min.js": "text/javascript",
    "react-dom.production.min.js": "text/javascript",
    "graphiql.min.js": "text/javascript",
}
PREFIX = "/graphql/assets"
HEADERS_PRESET = '{\n  "Authorization": "Bearer <token from the login mutation, or an API key>"\n}'
LOGIN = 'mutation { login(workspace: "demo", email: "...", password: "...") { token } }'


def _asset_dir() -> Traversable | None:
    try:
        folder = resources.files(ASSET_PACKAGE) / "static" / ASSET_PACKAGE
    except ModuleNotFoundError:
        return None
    return folder if all((folder / name).is_file() for name in ASSETS) else None


def page(endpoint: str = "/graphql") -> str:
    """The GraphiQL page, or a plain page explaining what failed and how to use curl instead."""
    if _asset_dir() is None:
        return _fallback(endpoint)
    css = f'<link rel="stylesheet" href="{PREFIX}/graphiql.min.css">'
    scripts = "".join(f'<script src="{PREFIX}/{name}"></script>' for name in ASSETS if name.endswith(".js"))
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>CRM GraphQL</title>{css}
<style>html,body,#graphiql{{height:100%;margin:0}}</style></head>
<body><div id="graphiql">Loading GraphiQL...</div>{scripts}
<script>
const fetcher = GraphiQL.createFetcher({{ url: {endpoint!r} }});
ReactDOM.render(React.createElement(GraphiQL, {{
  fetcher, defaultHeaders: {HEADERS_PRESET!r}, isHeadersEditorEnabled: true, shouldPersistHeaders: false,
  defaultQuery: "# First: " + {LOGIN!r} + "\\n# then put the token in the Headers tab.\\n{{ me {{ id email }} }}\\n"
}}), document.getElementById("graphiql"));
</script></body></html>"""


def _fallback(endpoint: str) -> str:
    url = f"http://127.0.0.1:8000{endpoint}"
    login_body = json.dumps({"query": LOGIN})
    curl_login = f"curl -s -X POST {url} -H 'Content-Type: application/json' -d '{login_body}'"
    curl_query = (
        f"curl -s -X POST {url} -H 'Content-Type: application/json' -H 'Authorization: Bearer TOKEN' "
        + """-d '{"query": "{ me { id email } }"}'"""
    )
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>CRM GraphQL</title></head><body>
<h1>GraphiQL is not available</h1>
<p>Its files come from the Python package <code>{ASSET_PACKAGE}</code>, which is not installed in this
environment (install the project with <code>pip install -e .</code>). The API itself works:</p>
<pre>{html.escape(curl_login)}</pre><pre>{html.escape(curl_query)}</pre>
</body></html>"""


async def asset(request: Request) -> Response:
    name = request.path_params["name"]
    folder = _asset_dir()
    if name not in ASSETS or folder is None:
        return PlainTextResponse("not found", status_code=404)
    return Response((folder / name).read_bytes(), media_type=ASSETS[name],
                    headers={"cache-control": "public, max-age=86400"})


def routes() -> list[Route]:
    return [Route(PREFIX + "/{name}", asset, methods=["GET"])]
