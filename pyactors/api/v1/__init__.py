"""Mesos's v1 HTTP APIs: RecordIO framing (`recordio`), the v1 JSON shapes
and their pyactors values (`mesos_json`), the scheduler API
(`scheduler`, `POST /api/v1/scheduler`) and the operator API."""
