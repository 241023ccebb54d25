"""Access control (issue 9, DESIGN.md "Identity and access").

- identity.py: who is calling (the token's subject, name, role and scope), the actor string
  recorded on every change, and the four-eyes comparison. No nameko.
- tokens.py: verifying bearer tokens (PyJWT against the issuer's JWKS) and the embedded
  local issuer (a signing key under var/). No nameko.
- policy.py: a service's access table (which role may call which entrypoint on what scope)
  and its check. No nameko.
- guard.py: the nameko side: the identity in context data and the one place per service that
  checks its table before a worker runs.
- commands.py: `mutual-aid token issue`.
"""
