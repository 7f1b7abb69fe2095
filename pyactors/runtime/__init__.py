"""Starting and reaching the cluster on Ray: Ray calls, the Cluster handle, the
long-running cluster's supervisor."""
