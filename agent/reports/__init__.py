"""The documents: a design-memo skeleton per service and an on-call handoff per team and shift (Markdown and
HTML from jinja2 templates shipped beside this package). Builders are pure: they render facts, findings and
paging answers, and never query a source."""

from datetime import timedelta

# a handoff's shift when only its end is given, for the CLI and the API alike: a weekly rotation, the most
# common (a daily one asks `--since 24h` / `?since=`)
DEFAULT_SHIFT = timedelta(days=7)
