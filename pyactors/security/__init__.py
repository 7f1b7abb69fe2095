"""Who may do what: credentials (authentication) and Mesos-format ACLs
(authorization), shared by the master, its HTTP API and the CLI."""

from pyactors.security.acls import ACTIONS, Acls
from pyactors.security.credentials import Credentials, basic_credentials

__all__ = ["ACTIONS", "Acls", "Credentials", "basic_credentials"]
