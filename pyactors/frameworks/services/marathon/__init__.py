"""Marathon's REST API (`/v2/...`) over the service framework: `shapes`
turns its state into Marathon's JSON, `events` is the `/v2/events`
stream, `routes` answers the requests, `server` serves them from inside
the framework's actor (on its event loop, never blocking it)."""
