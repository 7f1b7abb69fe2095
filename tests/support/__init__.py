"""What the tests share: waiting for conditions, processes, a real ZooKeeper
server, HTTP and CLI helpers, multi-node probes. Never a test module."""
