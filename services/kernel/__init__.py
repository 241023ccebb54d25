"""The kernel every service and every city plugin stands on.

Nothing here imports nameko or a database: money, resident IDs, phone numbers, scheme
periods, the city policy API and the registry that finds the installed city plugins.
"""
