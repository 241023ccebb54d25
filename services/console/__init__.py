"""The web console (issue 15): server-rendered pages over the other services' RPC."""
