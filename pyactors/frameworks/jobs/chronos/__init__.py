"""The jobs framework's REST APIs, Chronos's (`/v1/scheduler/...`, and
without the prefix) and Metronome's (`/v1/jobs`), on the framework's own
HTTP server inside its actor: `shapes` (Chronos's JSON),
`metronome_shapes` (Metronome's), `chronos_routes` and `metronome_routes`
(the handlers), `server` (the server and what both need of the framework)."""
