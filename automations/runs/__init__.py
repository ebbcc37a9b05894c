"""A Run's life after it exists: queue, control, claim, execute, store, services, recovery, tasks.

Dependencies point one way: tasks → execute, recovery → claim, store, services → queue;
nothing here imports tasks (queue sends them by their pinned names, routes.py).
"""
