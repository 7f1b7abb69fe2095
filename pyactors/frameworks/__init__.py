"""The built-in frameworks: ordinary `pyactors.Scheduler` subclasses on the
public API, started from the cluster handle (`Cluster.jobs()`, ...)."""
