"""Root conftest: nameko's services run on eventlet, so the monkey patch must come first.

nameko 2.14's pytest plugin no longer patches (it warns instead); doing it here, before any
test module imports sockets or threads, is what `nameko test` would do.
"""

import eventlet

eventlet.monkey_patch()
