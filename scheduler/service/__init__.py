"""The scheduler process's endpoints: the Flight SQL server, the control API, auth, the query registry, results."""
