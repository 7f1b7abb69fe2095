"""High availability: the ZooKeeper election and following the leader."""
