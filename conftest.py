"""Root conftest: nameko's services run on eventlet, so the monkey patch must come first.

nameko 2.14's pytest plugin no longer patches (it warns instead); doing it here, before any
test module imports sockets or threads, is what `nameko test` would do. Eventlet's own
deprecation notice is silenced: nameko 2 has no other hub (see DESIGN.md, "Libraries").
"""

import warnings

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    import eventlet

eventlet.monkey_patch()
