"""The built-in frameworks: ordinary `pyactors.Scheduler` subclasses on the
public API, started from the cluster handle (`Cluster.jobs()`, ...), and the
HAProxy load balancer in front of services (`pyactors.frameworks.haproxy`)."""
