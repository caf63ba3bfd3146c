"""The companion's local web UI (``cardio serve``): history, a recording's page, live view.

See :mod:`companion.web.app` (routes), :mod:`companion.web.live` (live-view protocol and
hub), :mod:`companion.web.publish` (how ``cardio record`` feeds the live view) and
``docs/review.md``.
"""
