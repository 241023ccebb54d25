"""notify: events become SMS to members and unit contacts (service.py), from per-city texts
(templates.py) through a gateway (gateways.py), sent once and retried with care (sending.py)."""
