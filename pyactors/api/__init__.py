"""The operator's surface over HTTP: the aiohttp API, its OpenAPI document, the
state JSON, metrics, the web UI."""
